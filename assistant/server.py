"""Serving the chat: which library, who may log in, which files the web server may hand out.

The rules that keep a shared link safe live here: a shared link always has a password, every
route needs a login when there is one, and only catalogued photos, their thumbnails and face
crops are reachable by URL (`assistant/gate.py`): no other file of the library folder or data
dir, and logins are rate-limited per client.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import threading
import time
import traceback
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.conversation import Assistant
from assistant.gate import FileGate, LoginThrottle
from index.errors import InvalidInput, PirError
from index.settings import Settings, default_data_dir

# Folders inside a data dir that hold pictures meant for the browser (never the catalog):
# index/layout.py says what each holds.
SERVED_CACHES = ("thumbs", "faces", "clips", "moments")
# Fifteen public-domain photos that ship with the repository (provenance in its SOURCES.md):
# two people photographed twice, dates, a GPS position, words on signs and labels.
DEMO_PHOTOS = Path(__file__).resolve().parent.parent / "demo" / "photos"


@dataclass(frozen=True)
class ServePlan:
    """Everything `serve` decided before launching: where, for whom, with which files."""

    data_dir: Path
    library_dir: Path | None
    auth: list[tuple[str, str]] | None
    generated_password: str | None
    allowed_paths: list[str]
    blocked_paths: list[str]


def parse_auth(
    values: list[str] | None, share: bool
) -> tuple[list[tuple[str, str]] | None, str | None]:
    """Logins from --auth USER:PASS; with --share and none given, a generated strong password."""
    logins = []
    for value in values or []:
        user, sep, password = value.partition(":")
        if not sep or not user or not password:
            raise InvalidInput(f"--auth needs USER:PASS (got {value!r}).")
        logins.append((user, password))
    if share and not logins:
        password = secrets.token_urlsafe(18)
        return [("family", password)], password
    return (logins or None), None


def served_paths(data_dir: Path, roots: list[Path]) -> tuple[list[str], list[str]]:
    """(allowed, blocked) for Gradio: the photo folders and picture caches, never the catalog."""
    allowed = [str(Path(r).resolve()) for r in roots]
    allowed += [str((data_dir / name).resolve()) for name in SERVED_CACHES]
    blocked = [
        str((data_dir / name).resolve())
        for name in ("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm")
    ]
    blocked += [str(p.resolve()) for p in data_dir.glob("*.faiss")]
    return allowed, blocked


def clean_upload_cache(folder: Path, max_hours: float, now: float | None = None) -> int:
    """Delete what Gradio cached (chat uploads, copies of shown photos) longer ago than
    `max_hours`, and the folders left empty; how many files went. Run at start, before Gradio
    writes: a file in use now is younger than that."""
    limit = (now or time.time()) - max_hours * 3600
    removed = 0
    if not folder.is_dir():
        return 0
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        try:
            if path.is_symlink() or path.is_file():
                if path.lstat().st_mtime < limit:
                    path.unlink()
                    removed += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        except OSError as err:  # another process's file, or vanished: leave it
            print(f"Could not clean {path}: {err.strerror}", file=sys.stderr)
    return removed


def gate_middleware(data_dir: Path, settings) -> list:
    """The doors in front of Gradio: the file gate and the login throttle."""
    from starlette.middleware import Middleware

    throttle = Middleware(
        LoginThrottle,
        free=settings.login_free_failures,
        delay_s=settings.login_delay_s,
        max_delay_s=settings.login_max_delay_s,
    )
    return [Middleware(FileGate, data_dir=data_dir), throttle]


def plan(args: Namespace) -> ServePlan:
    """Work out data dir, library folder, logins and served paths from the command line."""
    if args.demo:
        data_dir = Path(args.data).expanduser() if args.data else default_data_dir() / "demo"
        library_dir = DEMO_PHOTOS
        if not library_dir.is_dir():
            raise InvalidInput(f"The demo photos are missing ({library_dir}); restore demo/photos.")
    else:
        data_dir = Path(args.data).expanduser() if args.data else default_data_dir()
        library_dir = Path(args.library).expanduser().resolve() if args.library else None
        if library_dir is not None and not library_dir.is_dir():
            raise InvalidInput(f"--library {args.library}: no such folder.")
    auth, generated = parse_auth(args.auth, args.share)
    roots = [library_dir] if library_dir else []
    allowed, blocked = served_paths(data_dir, roots)
    return ServePlan(data_dir, library_dir, auth, generated, allowed, blocked)


def index_in_background(
    assistant: Assistant,
    folder: Path,
    clip_spec: str | None,
    faces: bool,
    watch: bool = True,
) -> threading.Thread:
    """Index `folder` in a thread with its own catalog connection, then read the words in its
    photos, then keep it current by watching it; the chat's status line says each step."""
    wording = assistant.wording
    main = assistant.library
    settled = [""]  # what the status line says once the stage running now is over

    def progress(done: int, total: int, what: str) -> None:
        if total and done >= total:
            settle()  # a stage ended; the next one (if any) reports again
            return
        assistant.indexing = True  # (0 of 0: still counting)
        assistant.status = wording.say("status", "indexing", done=done, total=total, what=what)

    def settle(status: str | None = None) -> None:
        """Nothing runs now: the status line says the last outcome, not a stage's count."""
        if status is not None:
            settled[0] = status
        assistant.indexing = False
        assistant.indexing_ended = time.time()
        assistant.status = settled[0]
        assistant.refresh()

    def finished(outcome: Any) -> None:
        """One indexing pass ended (a report, or the error that stopped it)."""
        if isinstance(outcome, PirError):
            assistant.status = wording.say("status", "index_failed", why=outcome)
        else:
            assistant.status = wording.say(
                "status",
                "indexed_report",
                new=outcome.new,
                changed=outcome.changed,
                moved=outcome.moved,
                removed=outcome.removed,
                skipped=len(outcome.skipped),
            )
            # What the run had to say (a damaged people.json, a lost catalog) is said here too.
            assistant.status = " ".join([assistant.status, *outcome.notes])
        settle(assistant.status)
        print(assistant.status, file=sys.stderr)

    def run() -> None:
        lib = None
        try:
            # Its own connection: the chat's is shared by the sessions under assistant.lock.
            lib = main.sibling()
            lib.sync(folder, progress=progress, indexed=finished)  # the words last
            if watch:

                def synced(outcome: Any) -> None:
                    finished(outcome)
                    at = time.strftime("%H:%M")
                    settle(wording.say("status", "watching", at=at, last=assistant.status))

                watcher = lib.watch([folder], progress=progress, done=synced, idle=settle)
                how = "watching" if watcher.using_events else "rescanning"
                settle(wording.say("status", f"{how}_start", folder=folder))
                print(assistant.status, file=sys.stderr)
                return  # the watcher's thread now owns `lib`
        except PirError as err:
            assistant.status = wording.say("status", "index_failed", why=err)
        except Exception as err:  # the thread's edge: say it in the chat, keep the trace
            traceback.print_exc()
            assistant.status = wording.say("status", "index_failed", why=repr(err))
        finally:
            assistant.indexing = False
            assistant.indexing_ended = time.time()
            assistant.refresh()
        if lib is not None:
            lib.close()

    assistant.indexing = True
    thread = threading.Thread(target=run, name="pir-indexer", daemon=True)
    thread.start()
    return thread


def serve(args: Namespace) -> int:
    """Start the chat: index --library in the background, launch Gradio, block until stopped."""
    from assistant.ui import CSS, build_ui
    from index.library import Library

    p = plan(args)
    # One line per chat turn (intent, seconds, CPU seconds) and the model's how-to go here.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("GRADIO_TEMP_DIR", str(p.data_dir / "gradio-cache"))
    removed = clean_upload_cache(
        Path(os.environ["GRADIO_TEMP_DIR"]), Settings.from_env().upload_cache_max_hours
    )
    if removed:
        print(f"Removed {removed} old uploads and answer copies from the cache.", file=sys.stderr)
    has_catalog = Library.exists_at(p.data_dir)
    library = None
    if has_catalog or p.library_dir is not None:
        writable = p.library_dir is not None or not args.read_only
        # A damaged or lost catalog stops here, before anything is served.
        library = Library(
            p.data_dir,
            clip=args.clip,
            read_only=not writable,
            faces=not args.no_faces,
            rebuild=p.library_dir is not None,
            verify=True,
            ocr=False if args.no_ocr else None,
        )
    if library is not None and library.lost_catalog_note():
        # Indexing runs on its own connection: say it here, where the catalog was made anew.
        print(library.lost_catalog_note(), file=sys.stderr, flush=True)
    assistant = Assistant(library, read_only=args.read_only)
    if p.library_dir is not None:
        index_in_background(assistant, p.library_dir, args.clip, faces=not args.no_faces)
    demo = build_ui(assistant, demo_library=p.library_dir == DEMO_PHOTOS)
    demo.queue(default_concurrency_limit=4)
    if p.generated_password:
        print(
            f"Shared link login: user 'family', password '{p.generated_password}' "
            "(give it only to people who may see these photos).",
            flush=True,
        )
    _app, local_url, share_url = demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        auth=p.auth,
        allowed_paths=p.allowed_paths,
        blocked_paths=p.blocked_paths,
        app_kwargs={"middleware": gate_middleware(p.data_dir, assistant.settings)},
        prevent_thread_lock=True,
        show_error=False,
        quiet=True,
        footer_links=[],
        css=CSS,
        # Gradio refuses bigger uploads before they are stored; the library checks again.
        max_file_size=f"{assistant.settings.upload_max_mb}mb",
    )
    print(f"Serving the chat at {local_url}", flush=True)
    if args.share and not share_url:
        print(
            "Could not open a public share link (no internet, or the share server is "
            f"unreachable). Still serving locally at {local_url}.",
            flush=True,
        )
    elif share_url:
        print(f"Shared at {share_url} (login required).", flush=True)
    try:
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        demo.close()
    return 0
