"""Serving safely: logins on every route, and no file outside the library reachable by URL.

Starts `python app.py serve` in a subprocess (tiny random CLIP, faces off, two photos) and
probes it over HTTP.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from PIL import Image

from assistant.gate import FILE_ROUTES, requested_file
from assistant.server import parse_auth, served_paths
from index.errors import InvalidInput

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
SECRET_PATHS = ["/gradio_api/file=/etc/passwd", "/file=/etc/passwd", "/gradio_api/file/etc/passwd"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name, colour in (("red.jpg", "red"), ("blue.jpg", "blue")):
        Image.new("RGB", (64, 48), colour).save(folder / name)
    return folder


@pytest.fixture(scope="module")
def clip_spec(tmp_path_factory) -> str:
    from tiny_models import save_tiny_open_clip

    return save_tiny_open_clip(tmp_path_factory.mktemp("clip"))


def start(data: Path, library: Path | None, clip: str, *extra: str) -> tuple[subprocess.Popen, str]:
    """`python app.py serve …` on a free port; returns the process and its URL once it answers."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    cmd = [sys.executable, "app.py", "serve", "--data", str(data)]
    cmd += ["--library", str(library)] if library else []
    cmd += ["--clip", clip, "--no-faces", "--port", str(port), *extra]
    log = open(data.parent / f"serve-{port}.log", "wb")  # noqa: SIM115 (read after stop)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.log_path = log.name
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(Path(proc.log_path).read_text(errors="replace"))
        try:
            httpx.get(url + "/", timeout=1)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("the server did not answer within 60 s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def refused(response: httpx.Response) -> bool:
    return response.status_code in (401, 403, 404) and "root:" not in response.text


@pytest.fixture(scope="module")
def open_server(tmp_path_factory, library, clip_spec):
    data = tmp_path_factory.mktemp("data-open")
    proc, url = start(data, library, clip_spec)
    yield url, data
    stop(proc)


@pytest.fixture(scope="module")
def locked_server(tmp_path_factory, library, clip_spec):
    # The data dir inside the library folder, as a careless user would put it.
    data = library / "pir-data"
    (library / "notes.txt").write_text("my bank PIN is 1234\n")
    (library / ".env").write_text("SECRET=1\n")
    (library / ".hidden.jpg").write_bytes((library / "red.jpg").read_bytes())
    (library / "page.html").write_text("<script>alert('SECRET')</script>\n")
    proc, url = start(data, library, clip_spec, "--auth", "ann:s3cret", "--auth", "bob:pw2")
    yield url, data
    stop(proc)


def eventually(get, status: int = 200, seconds: float = 60) -> httpx.Response:
    """Repeat a request until it answers `status` (indexing runs in the background)."""
    deadline = time.time() + seconds
    while True:
        response = get()
        if response.status_code == status or time.time() > deadline:
            return response
        time.sleep(0.5)


def test_files_outside_the_library_are_refused_without_auth(open_server, library):
    url, data = open_server
    for path in SECRET_PATHS:
        assert refused(httpx.get(url + path)), path
    assert refused(httpx.get(f"{url}/gradio_api/file={data / 'catalog.sqlite'}"))
    assert refused(httpx.get(f"{url}/gradio_api/file={ROOT / 'app.py'}"))
    photo = eventually(lambda: httpx.get(f"{url}/gradio_api/file={library / 'red.jpg'}"))
    assert photo.status_code == 200  # the library's photos are served


def test_unauthenticated_requests_are_refused_everywhere(locked_server, library):
    url, data = locked_server
    page = httpx.get(url + "/")
    assert "pir-chat" not in page.text  # only the login form, none of the app
    assert httpx.get(url + "/config").status_code == 401
    assert httpx.get(url + "/gradio_api/info").status_code == 401
    assert httpx.post(url + "/gradio_api/queue/join", json={}).status_code == 401
    assert httpx.get(f"{url}/gradio_api/file={library / 'red.jpg'}").status_code == 401
    # Not a photo: the same 401, so a visitor cannot tell photos from other files.
    assert httpx.get(f"{url}/gradio_api/file={library / 'notes.txt'}").status_code == 401
    assert httpx.get(f"{url}/gradio_api/file={data / 'catalog.sqlite'}").status_code == 401
    for path in SECRET_PATHS:
        assert refused(httpx.get(url + path)), path


def test_logged_in_users_get_photos_but_never_other_files(locked_server, library):
    url, _data = locked_server
    with httpx.Client(base_url=url) as client:
        bad = client.post("/login", data={"username": "ann", "password": "wrong"})
        assert bad.status_code >= 400
        ok = client.post("/login", data={"username": "bob", "password": "pw2"})
        assert ok.status_code == 200
        assert "pir-chat" in client.get("/").text
        red = f"/gradio_api/file={library / 'red.jpg'}"
        assert eventually(lambda: client.get(red)).status_code == 200
        for path in SECRET_PATHS:
            assert refused(client.get(path)), path


def test_logged_in_users_get_only_catalogued_photos_thumbnails_and_crops(locked_server, library):
    from index import layout, scan

    url, data = locked_server
    late = library / "arrived-after-start.jpg"
    Image.new("RGB", (64, 48), "green").save(late)
    with httpx.Client(base_url=url) as client:
        assert (
            client.post("/login", data={"username": "ann", "password": "s3cret"}).status_code == 200
        )
        red = f"/gradio_api/file={library / 'red.jpg'}"
        assert eventually(lambda: client.get(red)).status_code == 200
        digest = scan.file_hash((library / "red.jpg").read_bytes())
        thumb = layout.thumbnail_path(data, digest)
        assert eventually(lambda: client.get(f"/gradio_api/file={thumb}")).status_code == 200
        for path in (
            library / "notes.txt",
            library / ".env",
            late,  # an image, but not catalogued
            library / "red.jpg" / ".." / "notes.txt",
            data / "catalog.sqlite",
            data / "images.faiss",
            data / "images.json",
            data / "thumbs",
        ):
            response = client.get(f"/gradio_api/file={path}")
            assert response.status_code in (403, 404), (path, response.status_code)
            assert "PIN" not in response.text and "SECRET" not in response.text


def test_share_without_auth_gets_a_generated_strong_password():
    logins, password = parse_auth(None, share=True)
    assert logins == [("family", password)] and len(password) >= 20
    assert parse_auth(["ann:pw"], share=True) == ([("ann", "pw")], None)
    assert parse_auth(None, share=False) == (None, None)
    with pytest.raises(InvalidInput):
        parse_auth(["no-colon"], share=False)


def test_served_paths_never_include_the_catalog(tmp_path):
    allowed, blocked = served_paths(tmp_path, [tmp_path / "photos"])
    assert str((tmp_path / "catalog.sqlite").resolve()) in blocked
    assert str(tmp_path.resolve()) not in allowed


# Routes that take a path but serve only Gradio's own built files (its package folders, with
# its own checks against ".."), a custom component's files (the app has none), a stream's
# combined file (the app streams nothing) or proxy only to Hugging Face Spaces: never the
# user's disk. The probe below asks each of them for the user's files anyway.
GRADIOS_OWN = {
    "/svelte/{path:path}",
    "/static/{path:path}",
    "/assets/{path:path}",
    "/gradio_api/custom_component/{id}/{environment}/{type}/{file_name}",
    "/gradio_api/stream/{session_hash}/{run}/{component_id}/playlist-file",
}
PROXY = {"/gradio_api/proxy={url_path:path}"}


def app_routes() -> list[str]:
    """Every GET route of a Gradio app of this version, as its path template."""
    import gradio as gr
    from gradio.routes import App

    with gr.Blocks() as blocks:
        gr.Markdown("routes")
    found = []
    for route in App.create_app(blocks).routes:
        inner = getattr(route, "original_router", None)
        for r in inner.routes if inner else [route]:
            if "GET" in (getattr(r, "methods", None) or ()):
                found.append(r.path)
    return sorted(set(found))


def fill(template: str, target: Path | str) -> str:
    """A route's URL with every parameter asking for `target`."""
    import re

    return re.sub(r"\{[^}]+\}", lambda _: str(target).replace("\\", "/"), template)


def test_every_route_that_takes_a_path_is_known_and_the_file_routes_go_through_the_gate():
    taking_paths = {t for t in app_routes() if ":path}" in t or "file" in t}
    gated = {t for t in taking_paths if requested_file(fill(t, Path("/x/y.jpg")))}
    assert gated == {"/gradio_api/file={path_or_url:path}", "/gradio_api/file/{path:path}"}
    unknown = taking_paths - gated - GRADIOS_OWN - PROXY
    assert not unknown, f"a new Gradio route takes a path: put it behind the gate: {unknown}"
    assert len(FILE_ROUTES) == len(gated)


@contextmanager
def logged_in(url: str, user: str = "ann", password: str = "s3cret") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url) as client:
        login = client.post("/login", data={"username": user, "password": password})
        assert login.status_code == 200
        yield client


def test_no_route_hands_a_logged_in_user_a_file_the_catalog_does_not_hold(locked_server, library):
    url, data = locked_server
    late = library / "arrived-after-start.png"
    Image.new("RGB", (64, 48), "green").save(late)
    (library / "late-notes.txt").write_text("SECRET arrived late\n")
    targets = [
        library / "notes.txt",
        library / ".env",
        library / ".hidden.jpg",
        library / "page.html",
        library / "late-notes.txt",
        late,
        data / "catalog.sqlite",
    ]
    with logged_in(url) as client:
        red = f"/gradio_api/file/{library / 'red.jpg'}"
        assert eventually(lambda: client.get(red)).status_code == 200  # both spellings serve
        for template in app_routes():
            if "{" not in template:
                continue
            # absolute, and relative to the server's working folder (how Gradio reads both)
            for target in targets + [os.path.relpath(t, ROOT) for t in targets]:
                response = client.get(fill(template, target))
                leaked = response.status_code == 200 and (
                    "SECRET" in response.text or "PIN" in response.text
                )
                assert not leaked, (template, target)
                if requested_file(fill(template, target)):
                    assert response.status_code in (403, 404), (template, target)


def test_files_that_pass_the_gate_are_shown_inline_only_when_plain_pictures(locked_server):
    url, data = locked_server
    cache = data / "gradio-cache" / "upload-test"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "x.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>')
    (cache / "x.html").write_text("<script>alert(1)</script>")
    with logged_in(url) as client:
        for name in ("x.svg", "x.html"):
            response = client.get(f"/gradio_api/file={cache / name}")
            assert response.status_code == 200, name
            assert response.headers["content-disposition"].startswith("attachment"), name
            assert response.headers["content-type"] == "application/octet-stream", name
            assert response.headers["x-content-type-options"] == "nosniff"


@pytest.fixture(scope="module")
def catalog_only_server(open_server, clip_spec):
    """A second server on the first one's data dir, started without --library."""
    url, data = open_server
    proc, second = start(data, None, clip_spec, "--auth", "ann:s3cret")
    yield second, proc
    stop(proc)


def test_a_catalogued_photo_is_served_without_library_flag(
    open_server, catalog_only_server, library
):
    first, _data = open_server
    eventually(lambda: httpx.get(f"{first}/gradio_api/file={library / 'red.jpg'}"))
    url, _proc = catalog_only_server
    with logged_in(url) as client:
        assert client.get(f"/gradio_api/file={library / 'red.jpg'}").status_code == 200
        assert client.get(f"/gradio_api/file={library / 'notes.txt'}").status_code in (403, 404)


def test_logins_slow_down_after_five_failures_even_for_the_right_password(catalog_only_server):
    url, proc = catalog_only_server
    with httpx.Client(base_url=url) as client:
        for _ in range(5):
            wrong = client.post("/login", data={"username": "ann", "password": "guess"})
            assert wrong.status_code == 400
        right = {"username": "ann", "password": "s3cret"}
        held = client.post("/login", data=right)
        assert held.status_code == 429 and "try again in" in held.text
        assert int(held.headers["retry-after"]) >= 1
        time.sleep(int(held.headers["retry-after"]) + 0.2)
        assert client.post("/login", data=right).status_code == 200
    assert "5 failed logins from 127.0.0.1" in Path(proc.log_path).read_text()
