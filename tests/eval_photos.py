"""Where the evaluation photos are: a separate set of public photos, not in the repository.

`PIR_EVAL_DIR` names their folder (default: `../shared/eval/public`, beside the clone, as on
the machines this project is built on). Tests that need them skip, saying so, when absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EVAL_DIR = ROOT.parent / "shared" / "eval" / "public"


def eval_dir(sub: str = "") -> Path:
    """The evaluation folder (or `sub` inside it); skips the calling test when it is absent."""
    root = Path(os.environ.get("PIR_EVAL_DIR") or DEFAULT_EVAL_DIR).expanduser()
    path = root / sub
    if not path.is_dir():
        pytest.skip(
            f"evaluation photos not found at {path}: they are a separate set, not in the "
            "repository; set PIR_EVAL_DIR to their folder to run this test"
        )
    return path
