"""Every model lives the same way: loaded once on first use, dropped when idle, listed."""

from __future__ import annotations

import threading
import time

from index.models.lifecycle import Lazy, loaded_models


class _Weights:
    def __init__(self, nbytes: int):
        self.nbytes = nbytes


def _wait_for(condition, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return False


def got_in_threads(lazy: Lazy, n: int) -> list:
    """What `lazy.get()` gave each of `n` threads started at once (they have ended)."""
    got = []
    threads = [threading.Thread(target=lambda: got.append(lazy.get())) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


def test_a_model_loads_once_however_many_threads_ask_at_first():
    loads = []

    def load():
        loads.append(1)
        time.sleep(0.05)  # a slow load: the other threads arrive meanwhile
        return _Weights(10)

    lazy = Lazy("test model (once)", load)
    got = got_in_threads(lazy, 8)
    assert len(loads) == 1 and len({id(g) for g in got}) == 1


def test_nothing_loads_until_used_and_a_loaded_model_is_listed_with_its_memory():
    lazy = Lazy("test model (listed)", lambda: _Weights(3 * 2**20), size=lambda w: w.nbytes)
    assert not lazy.loaded
    assert "test model (listed)" not in [m["name"] for m in loaded_models()]
    lazy.get()
    listed = {m["name"]: m["memory_mb"] for m in loaded_models()}
    assert listed["test model (listed)"] == 3.0
    lazy.unload()
    assert "test model (listed)" not in [m["name"] for m in loaded_models()]


def test_an_idle_model_is_dropped_and_loads_again_on_the_next_use():
    loads = []
    lazy = Lazy("test model (idle)", lambda: loads.append(1) or _Weights(1), idle_minutes=0.002)
    lazy.get()
    assert _wait_for(lambda: not lazy.loaded), "the idle model was never dropped"
    lazy.get()
    assert lazy.loaded and len(loads) == 2


def test_per_thread_models_give_each_thread_its_own_copy():
    lazy = Lazy("test model (per thread)", lambda: _Weights(1), per_thread=True)
    seen, both_asked, done = [], threading.Barrier(3), threading.Event()

    def work():
        seen.append(lazy.get())
        both_asked.wait()
        done.wait()

    workers = [threading.Thread(target=work) for _ in range(2)]
    for t in workers:
        t.start()
    both_asked.wait()
    mine = lazy.get()  # a third thread while both workers live: a copy of its own
    done.set()
    for t in workers:
        t.join()
    assert len({id(m) for m in [*seen, mine]}) == 3
    assert lazy.get() is mine


def test_the_next_run_s_threads_take_over_the_copies_of_threads_that_ended():
    loads = []
    lazy = Lazy("test model (handed on)", lambda: loads.append(1) or _Weights(1), per_thread=True)

    def run() -> list:  # two decode workers, as an indexing run has, ended with it
        return got_in_threads(lazy, 2)

    first = run()
    second = run()
    assert len(loads) == len({id(m) for m in first}) <= 2  # loaded by the first run only
    assert {id(m) for m in second} <= {id(m) for m in first}
    assert len(lazy._copies) <= 2  # never more copies than threads that ran at once


def test_stats_list_the_models_in_memory(tmp_path):
    from index.library import Library

    with Library(tmp_path / "data", clip="local-dir:/nonexistent") as lib:
        stats = lib.stats()
    assert isinstance(stats["loaded_models"], list)
    assert all({"name", "memory_mb"} <= set(m) for m in stats["loaded_models"])
