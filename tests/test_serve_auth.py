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
from pathlib import Path

import httpx
import pytest
from PIL import Image

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


def start(data: Path, library: Path, clip: str, *extra: str) -> tuple[subprocess.Popen, str]:
    """`python app.py serve …` on a free port; returns the process and its URL once it answers."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    cmd = [sys.executable, "app.py", "serve", "--data", str(data), "--library", str(library)]
    cmd += ["--clip", clip, "--no-faces", "--port", str(port), *extra]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read().decode(errors="replace"))
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
    from index import scan

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
        thumb = scan.thumbnail_path(data, digest)
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
