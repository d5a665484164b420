"""The web server's doors without a server: which answers a browser may show inline, which
URLs name a file, and how failed logins slow a client down."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from assistant.gate import LoginThrottle, as_download, requested_file


def test_only_plain_pictures_keep_an_inline_type():
    jpeg = as_download([(b"content-type", b"image/jpeg"), (b"content-disposition", b"inline")])
    assert (b"content-disposition", b"inline") in jpeg
    for kind in (b"image/svg+xml", b"text/html; charset=utf-8", b"application/pdf"):
        headers = dict(as_download([(b"content-type", kind), (b"content-disposition", b"inline")]))
        assert headers[b"content-disposition"] == b"attachment"
        assert headers[b"content-type"] == b"application/octet-stream"


def test_both_spellings_of_the_file_route_name_the_same_file():
    assert requested_file("/gradio_api/file=/home/a/file/b.jpg") == (
        "/gradio_api",
        "/file=",
        "/home/a/file/b.jpg",
    )
    assert requested_file("/gradio_api/file//home/a.jpg")[2] == "/home/a.jpg"
    assert requested_file("/gradio_api/queue/join") is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttled_app(clock: Clock) -> TestClient:
    async def login(request):
        form = await request.form()
        ok = form.get("password") == "right"
        return JSONResponse({"ok": ok}, status_code=200 if ok else 400)

    app = Starlette(routes=[Route("/login", login, methods=["POST"])])
    return TestClient(LoginThrottle(app, free=5, delay_s=2.0, max_delay_s=30.0, clock=clock))


def test_failed_logins_wait_longer_each_time_and_are_logged(caplog):
    clock = Clock()
    client = throttled_app(clock)
    caplog.set_level(logging.WARNING, logger="pir.gate")
    for _ in range(4):
        assert client.post("/login", data={"password": "wrong"}).status_code == 400
    assert client.post("/login", data={"password": "wrong"}).status_code == 400  # 5th: wait 2 s
    held = client.post("/login", data={"password": "right"})
    assert held.status_code == 429 and held.headers["retry-after"] == "2"
    waits = []
    for _ in range(6):
        clock.now += 1000
        assert client.post("/login", data={"password": "wrong"}).status_code == 400
        waits.append(int(client.post("/login", data={"password": "x"}).headers["retry-after"]))
    assert waits == [4, 8, 16, 30, 30, 30]  # doubling up to the 30 s ceiling
    assert "failed logins from testclient" in caplog.text
    clock.now += 1000
    assert client.post("/login", data={"password": "right"}).status_code == 200
    assert client.post("/login", data={"password": "wrong"}).status_code == 400  # forgotten
    assert client.post("/login", data={"password": "right"}).status_code == 200


def test_old_uploads_are_removed_at_start_and_recent_ones_kept(tmp_path):
    import os
    import time

    from assistant.server import clean_upload_cache

    old = tmp_path / "abc" / "holiday.jpg"
    new = tmp_path / "def" / "today.jpg"
    for path in (old, new):
        path.parent.mkdir()
        path.write_bytes(b"x")
    two_days_ago = time.time() - 48 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    assert clean_upload_cache(tmp_path, max_hours=24) == 1
    assert not old.exists() and not old.parent.exists()
    assert new.exists()
