"""Giving memory the process has freed back to the system.

glibc's malloc keeps what a step frees inside its heaps for reuse, and a heap only shrinks
from its top: after the int8 calibration (~1 GB of model copies) or a batch of photos and
video moments, most freed pages stay resident, scattered between live ones, and an index
run's resident set only grows. `give_back` asks malloc to return every free page
(`malloc_trim`); where malloc is not glibc's (macOS, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
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


def give_back() -> bool:
    """Return malloc's free pages to the system now; whether any were (False off glibc)."""
    return bool(_TRIM(0)) if _TRIM is not None else False
