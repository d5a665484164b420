"""Shared fixtures: offline hub, tiny random CLIP models, small photo folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Exporting a model to ONNX takes seconds; tests of everything else run CLIP in torch, and
# tests/test_encoders.py exercises the exported backends on purpose.
os.environ.setdefault("PIR_CLIP_BACKEND", "torch")


# --- tiny random CLIP models (tests/tiny_models.py): plumbing and shapes only, never meaning ---


# --- the evaluation photos (tests/eval_photos.py): a separate set; tests skip without them ---


@pytest.fixture(scope="session")
def eval_faces() -> Path:
    """The public face photos of the evaluation set (PIR_EVAL_DIR); skips when absent."""
    from eval_photos import eval_dir

    return eval_dir("faces")


@pytest.fixture(scope="session")
def tiny_clip_spec(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random open_clip model saved in local-dir format: its "local-dir:..." spec."""
    from tests.tiny_models import save_tiny_open_clip

    return save_tiny_open_clip(tmp_path_factory.mktemp("tiny_open_clip"))


@pytest.fixture(scope="session")
def tiny_hf_clip_spec(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random transformers CLIPModel folder (with tokenizer + processor): "hf:..."."""
    from tests.tiny_models import save_tiny_hf_clip

    return save_tiny_hf_clip(tmp_path_factory.mktemp("tiny_hf_clip"))


@pytest.fixture(scope="session")
def tiny_clip_spec_b(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A second tiny random open_clip model (another folder, other weights)."""
    from tests.tiny_models import save_tiny_open_clip

    return save_tiny_open_clip(tmp_path_factory.mktemp("tiny_open_clip_b"), seed=1)
