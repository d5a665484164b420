"""Settings check themselves: a bad value is refused at once, naming the variable and what it takes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from index.errors import InvalidInput
from index.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("raw", ["abc", "0", "-3", "2.5"])
def test_bad_batch_size_in_the_environment_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv("PIR_BATCH_SIZE", raw)
    with pytest.raises(InvalidInput, match=r"PIR_BATCH_SIZE=.*whole number, at least 1"):
        Settings.from_env()


def test_a_setting_with_choices_lists_them_in_words(monkeypatch):
    monkeypatch.setenv("PIR_CLIP_BACKEND", "cuda")
    with pytest.raises(
        InvalidInput, match=r"PIR_CLIP_BACKEND='cuda'.*give one of auto, onnxruntime"
    ):
        Settings.from_env()


def test_good_environment_values_override_defaults_and_keywords_win(monkeypatch):
    monkeypatch.setenv("PIR_BATCH_SIZE", "7")
    monkeypatch.setenv("PIR_FACE_MIN_SCORE", "0.8")
    assert Settings.from_env().batch_size == 7
    assert Settings.from_env().face_min_score == 0.8
    assert Settings(batch_size=3).batch_size == 3


def test_override_is_checked_like_the_environment():
    s = Settings(batch_size=5)
    assert s.override(model_batch=2).model_batch == 2
    assert s.override(model_batch=2).batch_size == 5
    with pytest.raises(InvalidInput, match=r"face_min_score.*at most 1"):
        s.override(face_min_score=1.5)
    with pytest.raises(InvalidInput, match="not a setting"):
        s.override(no_such_setting=1)


def test_settings_are_frozen():
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        Settings().batch_size = 1  # type: ignore[misc]


def app(*args: str, data: Path, **env: str) -> subprocess.CompletedProcess:
    """`python app.py ARGS` in its own process, with these environment variables added."""
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), *args],
        cwd=ROOT,
        env={**os.environ, "PIR_DATA": str(data), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_refuses_a_bad_setting_in_one_line(tmp_path):
    done = app("stats", data=tmp_path, PIR_BATCH_SIZE="abc")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert lines == ["error: PIR_BATCH_SIZE='abc' cannot be used: give a whole number, at least 1."]


def test_serve_refuses_a_bad_setting_before_starting(tmp_path):
    done = app("serve", "--port", "1", data=tmp_path, PIR_CHAT_PAGE_SIZE="0")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith("error: PIR_CHAT_PAGE_SIZE='0'")
    assert "Traceback" not in done.stderr
