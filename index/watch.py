"""Keeping a library current while it is served: file events, batched, and a periodic rescan.

watchdog reports files created, changed, moved and deleted under the library's folders. A
burst (a phone import of 500 photos) arrives as hundreds of events, so they are not handled
one by one: the watcher waits until the folder has been quiet for `watch_quiet_s` (but never
longer than `watch_max_wait_s`) and then brings each touched folder current with one
incremental index run, which sees new, changed, moved and deleted photos as `index` does
(a moved photo keeps its row, so its people stay). Network drives and some containers
deliver no events, so every `watch_rescan_s` all folders are rescanned anyway.

The sync step gets an event that is set when new changes arrive while it runs: the slow
words stage stops early on it, so new photos are indexed first and their words read after.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from index.scan import IMAGE_SUFFIXES
from index.settings import Settings

log = logging.getLogger(__name__)

# Bring these folders current; the event is set when newer changes are waiting.
Sync = Callable[[list[Path], threading.Event], None]


class Watcher:
    """Watches folders and calls `sync` with the ones that changed, a batch at a time."""

    def __init__(
        self,
        roots: list[Path],
        sync: Sync,
        settings: Settings,
        exclude: tuple[Path, ...] = (),
    ):
        self.roots = [Path(os.path.realpath(r)) for r in roots]
        self.sync = sync
        self.settings = settings
        self.exclude = tuple(str(Path(os.path.realpath(p))) + os.sep for p in exclude)
        self.changed = threading.Event()  # set by file events, cleared when a batch starts
        self._touched: set[Path] = set()
        self._first_event = 0.0
        self._last_event = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer = None
        self.events_seen = 0
        self.using_events = False  # False: only the periodic rescan keeps the library current

    def start(self) -> Watcher:
        """Start listening for file events (when the platform offers them) and the loop."""
        try:
            if not self.settings.watch_events:
                raise ImportError("file events turned off (PIR_WATCH_EVENTS=0)")
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer

            watcher = self

            class Handler(FileSystemEventHandler):
                def on_any_event(self, event) -> None:
                    if event.event_type in ("opened", "closed_no_write"):
                        return
                    for path in (event.src_path, getattr(event, "dest_path", "")):
                        if path:
                            watcher.note(os.fsdecode(path), event.is_directory)

            observer = Observer()
            for root in self.roots:
                observer.schedule(Handler(), str(root), recursive=True)
            observer.daemon = True
            observer.start()
            self._observer = observer
            self.using_events = True
        except (OSError, ImportError):
            # No inotify watches left, or no watchdog: the rescan alone keeps things current.
            self._observer = None
            self.using_events = False
        self._thread = threading.Thread(target=self._loop, name="pir-watcher", daemon=True)
        self._thread.start()
        return self

    def note(self, path: str, is_directory: bool = False) -> None:
        """A file event: remember the root it belongs to, if it concerns photos."""
        if path.startswith(self.exclude):
            return
        name = os.path.basename(path)
        if name.startswith("."):
            return  # hidden files, editors' and copiers' temporaries
        if not is_directory and os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
            return
        root = next((r for r in self.roots if path.startswith(str(r) + os.sep)), None)
        if root is None:
            return
        now = time.monotonic()
        with self._lock:
            if not self._touched:
                self._first_event = now
            self._touched.add(root)
            self._last_event = now
            self.events_seen += 1
        self.changed.set()

    def rescan(self) -> None:
        """Ask for every folder to be brought current now."""
        with self._lock:
            self._touched.update(self.roots)
            self._first_event = self._last_event = 0.0
        self.changed.set()

    def stop(self) -> None:
        """Stop listening and end the loop (after the batch in progress)."""
        self._stop.set()
        self.changed.set()
        if self._observer is not None:
            self._observer.stop()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        s = self.settings
        next_rescan = time.monotonic() + s.watch_rescan_s
        while not self._stop.is_set():
            timeout = max(0.0, next_rescan - time.monotonic())
            if not self.changed.wait(timeout=min(timeout, 1.0)):
                if time.monotonic() >= next_rescan:
                    self.rescan()
                continue
            if self._stop.is_set():
                break
            with self._lock:
                now = time.monotonic()
                quiet = now - self._last_event >= s.watch_quiet_s
                overdue = now - self._first_event >= s.watch_max_wait_s
                if not (quiet or overdue):
                    wait = s.watch_quiet_s - (now - self._last_event)
                else:
                    roots, self._touched = sorted(self._touched), set()
                    self.changed.clear()
                    wait = 0.0
            if wait > 0:
                self._stop.wait(min(wait, 1.0))
                continue
            if roots:
                try:
                    self.sync(roots, self.changed)
                except Exception:  # the thread's edge: one failed batch must not end watching
                    log.exception("bringing %s current failed; the next change retries", roots)
                    next_rescan = time.monotonic() + s.watch_rescan_s
                    continue
            next_rescan = time.monotonic() + s.watch_rescan_s
