"""Memory an index run freed goes back to the system (index/memory.py), so a long run's
resident set does not only grow."""

from __future__ import annotations

import ctypes
import sys

import pytest

from index import memory

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "malloc_trim"),
    reason="malloc_trim is glibc's",
)


def resident_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


@glibc
def test_freed_memory_held_between_live_blocks_is_given_back():
    # 200 MB in blocks below malloc's mmap threshold (they come from its heap), then a live
    # block above them: freed, they sit under it, and malloc keeps them resident.
    blocks = [bytes(bytearray(64 << 10)) for _ in range(3200)]
    for block in blocks:
        assert block[-1] == 0  # touched: resident
    pinned = [bytes(bytearray(64 << 10)) for _ in range(4)]
    del blocks
    held = resident_mb()
    assert memory.give_back()
    assert resident_mb() < held - 100
    assert len(pinned) == 4


@glibc
def test_memory_is_given_back_only_once_the_resident_set_grew_that_much():
    memory.give_back()
    assert not memory.give_back_if_grown(64)  # nothing grew since
    grown = [bytes(bytearray(64 << 10)) for _ in range(1600)]  # 100 MB
    pinned = [bytes(bytearray(64 << 10)) for _ in range(4)]
    del grown
    held = resident_mb()
    assert memory.give_back_if_grown(64)
    assert resident_mb() < held - 50
    assert len(pinned) == 4
