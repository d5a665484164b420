"""A reader that stops early (`app.py people | head -2`) is no error of ours: no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `head` once it has its lines: every write now fails
    r = subprocess.run(
        [sys.executable, "app.py", "parse", "photos of Bob from 2019", "--data", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    os.close(write_end)
    assert "Traceback" not in r.stderr and "BrokenPipeError" not in r.stderr, r.stderr
    assert r.returncode == 0
