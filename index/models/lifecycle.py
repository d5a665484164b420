"""One lifecycle for every model: loaded on first use under a lock, dropped when idle, listed.

CLIP, the face detector, the face embedder, OCR and spaCy all live the same way:

- nothing loads at import or construction, so `--help` and `parse` start at once;
- the first use loads the model under a lock (two threads never load it twice);
- after `model_idle_unload_minutes` (CLIP: `clip_idle_unload_minutes`) unused it is dropped
  and loads again on the next use (0: never dropped);
- while in memory it is listed by `loaded_models()`, with about how much memory it holds
  (`python app.py stats --json` shows the list under "loaded_models").

`Lazy` is that lifecycle for one model (`per_thread=True`: one copy per thread, for models
that keep per-call state on themselves; a new thread takes over the copy of one that
ended). A model with a lifecycle of its own (`ClipModel`: torch weights plus an exported
encoder) uses `watch_idle` and `register` directly.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Tracked(Protocol):
    """What the registry asks of a model: its name, whether it is in memory, and how much."""

    name: str

    @property
    def loaded(self) -> bool: ...

    def memory_bytes(self) -> int: ...


_registry: weakref.WeakSet[Any] = weakref.WeakSet()
_registry_lock = threading.Lock()


def register(model: Tracked) -> None:
    """List `model` in `loaded_models()` while it is in memory (held weakly)."""
    with _registry_lock:
        _registry.add(model)


def loaded_models() -> list[dict[str, Any]]:
    """The models in memory now: name and about how many MB each holds, largest first."""
    with _registry_lock:
        models = list(_registry)
    out = [
        {"name": m.name, "memory_mb": round(m.memory_bytes() / 2**20, 1)}
        for m in models
        if m.loaded
    ]
    return sorted(out, key=lambda m: (-m["memory_mb"], m["name"]))


def watch_idle(
    owner: Any,
    name: str,
    idle_minutes: float,
    last_used: Callable[[Any], float],
    is_loaded: Callable[[Any], bool],
    unload: Callable[[Any], None],
) -> threading.Thread | None:
    """Drop `owner`'s model after `idle_minutes` without use (a daemon thread; None when 0).

    The thread holds `owner` weakly: a model nobody uses any more is freed at once, and the
    thread ends once the model is unloaded (the next load starts another).
    """
    if idle_minutes <= 0:
        return None
    ref = weakref.ref(owner)
    idle_s = idle_minutes * 60

    def watch() -> None:
        while True:
            time.sleep(min(60.0, idle_s / 4))
            model = ref()
            if model is None or not is_loaded(model):
                return
            if time.monotonic() - last_used(model) > idle_s:
                log.info("unloading the idle model %s", name)
                unload(model)
                return
            del model

    thread = threading.Thread(target=watch, name=f"idle-unload {name}", daemon=True)
    thread.start()
    return thread


class Lazy(Generic[T]):
    """One model's lifecycle: `get()` loads it on first use (under a lock), it is dropped
    after `idle_minutes` unused, and it is listed by `loaded_models()` while in memory."""

    def __init__(
        self,
        name: str,
        load: Callable[[], T],
        idle_minutes: float | Callable[[], float] = 0.0,
        size: Callable[[T], int] | None = None,
        per_thread: bool = False,
    ):
        self.name = name
        self._load = load
        self._idle_minutes = idle_minutes  # a callable is asked at the first load
        self._size = size or (lambda _model: 0)
        self._per_thread = per_thread
        self._copies: dict[int, T] = {}  # thread id (0 when shared) -> the loaded model
        self._lock = threading.Lock()
        self._last_used = time.monotonic()
        self._watcher: threading.Thread | None = None
        register(self)

    def get(self) -> T:
        """The model, loaded now if it is not in memory (this thread's copy when per thread)."""
        self._last_used = time.monotonic()
        key = threading.get_ident() if self._per_thread else 0
        model = self._copies.get(key)
        if model is not None:
            return model
        with self._lock:
            model = self._copies.get(key)
            if model is None:
                if self._per_thread:  # a copy whose thread ended is taken over, not reloaded
                    model = self._take_orphan()
                if model is None:
                    model = self._load()
                self._copies[key] = model
            if self._watcher is None or not self._watcher.is_alive():
                idle = self._idle_minutes
                self._watcher = watch_idle(
                    self,
                    self.name,
                    idle() if callable(idle) else idle,
                    lambda lazy: lazy._last_used,
                    lambda lazy: lazy.loaded,
                    lambda lazy: lazy.unload(),
                )
            return model

    def _take_orphan(self) -> T | None:
        """The copy of a thread that ended, taken out (None when there is none): the
        indexer's decode workers end with each run, the next run's take their models over
        instead of loading them again. The others wait for the next new thread. Under the lock."""
        alive = {t.ident for t in threading.enumerate()}
        orphan = next((k for k in self._copies if k not in alive), None)
        return self._copies.pop(orphan) if orphan is not None else None

    def set(self, model: T) -> None:
        """Use an already loaded model (this thread's copy when per thread)."""
        key = threading.get_ident() if self._per_thread else 0
        with self._lock:
            self._copies[key] = model

    @property
    def loaded(self) -> bool:
        """Whether any copy of the model is in memory."""
        return bool(self._copies)

    def memory_bytes(self) -> int:
        """About how much memory the loaded copies hold."""
        return sum(self._size(m) for m in list(self._copies.values()))

    def unload(self) -> None:
        """Drop every copy (they load again on the next use)."""
        with self._lock:
            self._copies = {}
        gc.collect()


def torch_bytes(module: Any) -> int:
    """The bytes of a torch module's parameters and buffers (freed ones, on "meta", hold none)."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors if t.device.type != "meta")


def file_bytes(paths: Iterable[str | os.PathLike[str]]) -> int:
    """The bytes of a model's weight files (what a runtime that maps them holds, about)."""
    return sum(Path(p).stat().st_size for p in paths if Path(p).is_file())
