"""`python app.py chat`: the web page's conversation, one message a line, in a terminal.

A real process on a real library (public face photos, MTCNN + dlib, tiny random CLIP);
`--json` gives one object per reply whose photos are checked against the folders they
came from.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.terminal import plain_text

ROOT = Path(__file__).resolve().parent.parent


def chat(data: Path, messages: list[str], *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "chat", "--data", str(data), *flags],
        input="\n".join(messages) + "\n",
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PIR_CLIP_BACKEND": "torch"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def library(tmp_path_factory, eval_faces, tiny_clip_spec) -> dict:
    """Three photos of Angelina and two of Alex Lacamoire, indexed by `app.py index`."""
    root = tmp_path_factory.mktemp("terminal")
    folder, data = root / "photos", root / "data"
    folder.mkdir()
    truth: dict[str, set[str]] = {"angelina": set(), "alex_lacamoire": set()}
    for person, count in (("angelina", 3), ("alex_lacamoire", 2)):
        for k in range(1, count + 1):
            target = folder / f"{person}_{k}.jpg"
            shutil.copyfile(eval_faces / person / f"{k}.jpg", target)
            truth[person].add(str(target.resolve()))
    done = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "index", str(folder), "--data", str(data)]
        + ["--clip", tiny_clip_spec, "--no-ocr"],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PIR_CLIP_BACKEND": "torch"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return {"data": data, "truth": truth}


def test_json_chat_names_a_group_and_finds_its_photos_by_surname(library):
    first = chat(library["data"], ["who do you know?"], "--json")
    assert first.returncode == 0, first.stderr
    offered = json.loads(first.stdout.splitlines()[0])["faces"]
    biggest = next(f["number"] for f in offered if f["caption"].endswith("3 photos"))
    done = chat(
        library["data"],
        ["who do you know?", f"person {biggest} is Angelina Jolie", "photos of Jolie"],
        "--json",
    )
    assert done.returncode == 0, done.stderr
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(replies) == 3  # one object per reply, one line each
    assert replies[1]["text"].startswith("Got it: person") and "**" not in replies[1]["text"]
    assert set(replies[2]["photos"]) == library["truth"]["angelina"]
    assert all(Path(p).is_absolute() for p in replies[2]["photos"])


def test_plain_chat_prints_each_reply_and_refuses_naming_when_read_only(library):
    done = chat(library["data"], ["help", "", "rename Angelina Jolie to Angie"], "--read-only")
    assert done.returncode == 0, done.stderr
    assert "Naming is turned off" in done.stdout
    assert "> " not in done.stdout  # no prompt when the input is not a terminal


def test_plain_text_drops_markdown_but_keeps_what_was_typed():
    assert plain_text(r"Renamed **Bob** to **Bob\_by** \*") == "Renamed Bob to Bob_by *"
    assert plain_text("*photos of &lt;b&gt;*") == "photos of <b>"


def test_plain_text_keeps_escaped_underscores_of_file_names():
    assert plain_text(r"**Photo 1** — alex\_lacamoire\_2.jpg") == "Photo 1 — alex_lacamoire_2.jpg"
