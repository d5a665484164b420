"""Giving memory the process has freed back to the system.

glibc's malloc keeps what a step frees inside its heaps for reuse, and a heap only shrinks
from its top: after the int8 calibration (~1 GB of model copies) or a batch of photos and
video moments, most freed pages stay resident, scattered between live ones, and an index
run's resident set only grows. `give_back` asks malloc to return every free page
(`malloc_trim`); where malloc is not glibc's (macOS, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_TRIM = _malloc_trim()
_given_at_mb = 0.0  # the resident set just after the last give-back


def give_back() -> bool:
    """Return malloc's free pages to the system now; whether any were (False off glibc)."""
    global _given_at_mb
    if _TRIM is None:
        return False
    given = bool(_TRIM(0))
    _given_at_mb = resident_mb()
    return given


def give_back_if_grown(mb: float) -> bool:
    """`give_back` when the resident set grew by `mb` or more since the last give-back (a
    look costs microseconds; a give-back tens of ms, and the pages come back as faults)."""
    if _TRIM is None or resident_mb() - _given_at_mb < mb:
        return False
    return give_back()


def resident_mb() -> float:
    """The process's resident set now, MB (0 where /proc is not there to say)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * _PAGE / (1 << 20)
    except (OSError, ValueError, IndexError):
        return 0.0


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
