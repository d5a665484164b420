"""The web server's two doors: which files a URL may hand out, and how often a client may
try a password.

`FileGate` is the one check every file-serving route passes: Gradio hands out a file named by
the URL only through `FILE_ROUTES` (tests/test_serve_auth.py enumerates the app's routes and
fails on any other route that takes a path). What passes is decided by the catalog
(`Library.servable_file`: catalogued photos and videos, their thumbnails, face crops and clips) and Gradio's own
cache, never by the flags the server was started with. Whatever passes is shown inline only
when it is a plain picture or an MP4/WebM video; HTML, SVG and anything else go out as a download, so no file can
run a script on the app's origin.

`LoginThrottle` counts failed logins per client: after a few, each further try waits longer.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("pir.gate")

# Every URL spelling under which Gradio 6 hands out a file from disk: /gradio_api/file=PATH
# and the older /gradio_api/file/PATH (the same handler).
FILE_ROUTES = ("/file=", "/file/")
REFUSED_PATH = "/pir-refused/not-served"  # no such file: Gradio answers 401 or 403 for it
# What a browser may show inline: pictures that cannot carry a script (SVG can).
INLINE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp"}
    | {"video/mp4", "video/webm"}  # videos and clips play in the larger view; no script runs
)


def requested_file(path: str) -> tuple[str, str, str] | None:
    """(prefix, route, file) when a URL path asks a file route for a file, else None."""
    found = [(path.find(route), route) for route in FILE_ROUTES if route in path]
    if not found:
        return None
    at, route = min(found)
    return path[:at], route, path[at + len(route) :]


def gradio_caches() -> list[str]:
    """Folders Gradio writes itself: its upload/output cache and its examples cache."""
    import gradio.utils

    return [
        os.path.abspath(gradio.utils.get_upload_folder()),
        os.path.abspath(gradio.utils.get_cache_folder()),
    ]


def as_download(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Response headers that let a browser show a plain picture inline and nothing else."""
    kept = [(k, v) for k, v in headers if k.lower() != b"x-content-type-options"]
    kept.append((b"x-content-type-options", b"nosniff"))
    types = [
        v.split(b";")[0].strip().decode("latin-1").lower()
        for k, v in kept
        if k.lower() == b"content-type"
    ]
    if types and all(t in INLINE_TYPES for t in types):
        return kept
    kept = [(k, v) for k, v in kept if k.lower() not in (b"content-type", b"content-disposition")]
    return kept + [
        (b"content-type", b"application/octet-stream"),
        (b"content-disposition", b"attachment"),
    ]


class FileGate:
    """ASGI middleware in front of Gradio's file routes (see the module docstring).

    Checked at every request, so a file that appears in the library after start is refused
    too. A refused path is swapped for one that does not exist before Gradio sees the request,
    so Gradio's own login check still answers first (401 without a login, 403 with one) and a
    visitor without a login cannot even learn whether a path is a photo.
    """

    def __init__(self, app, data_dir: Path):
        self.app = app
        self.data_dir = Path(data_dir)
        self._library = None
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        asked = requested_file(scope["path"]) if scope["type"] == "http" else None
        if asked is None:
            await self.app(scope, receive, send)
            return
        prefix, route, wanted = asked
        if not self.allows(wanted):
            refused = prefix + route + REFUSED_PATH
            scope = {**scope, "path": refused, "raw_path": refused.encode()}

        async def send_safely(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": as_download(list(message.get("headers", [])))}
            await send(message)

        await self.app(scope, receive, send_safely)

    def allows(self, wanted: str) -> bool:
        """Whether the file a URL names may be handed out (see the module docstring)."""
        if wanted.startswith(("http://", "https://")):
            return False  # the server fetches nothing from elsewhere for a visitor
        path = os.path.abspath(wanted)  # as Gradio reads it (relative: to its working dir)
        for cache in gradio_caches():
            if path.startswith(cache.rstrip("/") + "/") and not os.path.islink(path):
                return True
        with self._lock:  # one connection of its own, shared by the server's threads
            library = self._open()
            if library is None or not library.servable_file(path):
                return False
        let_gradio_serve(os.path.dirname(path))
        return True

    def _open(self):
        if self._library is None:
            from index.errors import PirError
            from index.library import Library

            try:
                self._library = Library(self.data_dir, read_only=True, faces=False)
            except PirError:
                return None  # no catalog yet (indexing has not written one): nothing to serve
        return self._library


def let_gradio_serve(folder: str) -> None:
    """Gradio checks paths of its own after the gate: tell it about a folder of catalogued
    photos it was not started with (`serve --data D` alone, a folder indexed by the command
    line while serving). The gate stays the judge of every file in it."""
    import gradio as gr
    from gradio.data_classes import _StaticFiles

    if not any(str(p) == folder for p in _StaticFiles.all_paths):
        gr.set_static_paths([folder])


class LoginThrottle:
    """ASGI middleware: after `free` failed logins from one client, every further try waits
    `delay_s`, doubling with each failure up to `max_delay_s`; a try made while waiting is
    refused (429) without checking the password. A success forgets the client's failures."""

    LOGIN_PATHS = ("/login", "/login/")

    def __init__(
        self,
        app,
        free: int,
        delay_s: float,
        max_delay_s: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.app = app
        self.free, self.delay_s, self.max_delay_s = free, delay_s, max_delay_s
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # client -> (failures, next try at)
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if not (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].endswith(self.LOGIN_PATHS)
        ):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown",))[0]
        wait = self.wait_s(client)
        if wait > 0:
            await refuse(send, wait)
            return
        status = {}

        async def watch(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        code = status.get("code", 500)
        if code < 400:
            self.succeeded(client)
        elif code in (400, 401, 403):
            self.failed(client)

    def wait_s(self, client: str) -> float:
        """Seconds `client` must still wait before its next try (0: may try now)."""
        with self._lock:
            _failures, at = self._failures.get(client, (0, 0.0))
        return max(0.0, at - self.clock())

    def failed(self, client: str) -> None:
        """Count a failed login; past the free ones, the next try waits longer each time."""
        with self._lock:
            failures = self._failures.get(client, (0, 0.0))[0] + 1
            delay = 0.0
            if failures >= self.free:
                delay = min(self.max_delay_s, self.delay_s * 2 ** (failures - self.free))
            self._failures[client] = (failures, self.clock() + delay)
        if delay:
            log.warning(
                "%d failed logins from %s: its next try waits %.0f s", failures, client, delay
            )

    def succeeded(self, client: str) -> None:
        """Forget a client's failures once it logged in."""
        with self._lock:
            self._failures.pop(client, None)


async def refuse(send, wait_s: float) -> None:
    """A 429 answer saying how long to wait."""
    seconds = max(1, math.ceil(wait_s))
    body = json.dumps(
        {"detail": f"Too many failed logins from here: try again in {seconds} s."}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", str(seconds).encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
