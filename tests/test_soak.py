"""Several processes on one library at once lose nothing.

`serve --library` indexes and watches the folder while a chat client (gradio_client, over
HTTP, as a browser would) names and renames people, and command-line processes run `stats`,
`people`, `name`, `rename` and `index` of the same folder in a loop; new photos arrive in the
folder meanwhile. The server is then killed (SIGKILL), started again and stopped (SIGTERM).
After each stop: the catalog passes `PRAGMA integrity_check`, every photo of the folder is in
it once, every name either side gave is in the catalog and in people.json, and the saved FAISS
index holds exactly the catalog's photos when it says it is current.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from face_photos import eval_faces_dir
from photo_files import noise_photo

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "photos"
CLI_PEOPLE = ("alex_lacamoire", "angelina", "ariel_sharon", "colin_powell")
# The commands name one face each; every other name they rename, the rest the chat renames.
NAMES = ("Anna", "Bert", "Cleo", "Dana")
RENAMED = {"Anna": "Annabel", "Bert": "Bertram", "Cleo": "Cleopatra", "Dana": "Daniela"}
ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "PIR_WATCH_QUIET_S": "0.5",
    "PIR_CLIP_BACKEND": "torch",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python app.py serve --library` in its own process, its log in a file."""

    def __init__(self, folder: Path, data: Path, clip: str, log: Path):
        self.port = free_port()
        self.log = log
        cmd = [sys.executable, "app.py", "serve", "--library", str(folder), "--data", str(data)]
        cmd += ["--clip", clip, "--no-ocr", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=ENV, stdout=log.open("w"), stderr=subprocess.STDOUT
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_for(self, text: str, after: int = 0, timeout: float = 180) -> int:
        """Wait until the log says `text` (past offset `after`); its end offset."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            log = self.log.read_text(errors="replace")
            if text in log[after:]:
                return len(log)
            time.sleep(0.3)
        raise AssertionError(f"the server never said {text!r}:\n{self.log.read_text()}")

    def stop(self, sig: int) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)


def cli(data: Path, clip: str, *args: str) -> str:
    """One command beside the server; it must succeed."""
    cmd = [sys.executable, "app.py", *args, "--data", str(data), "--clip", clip]
    r = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def library_folder(root: Path) -> tuple[Path, list[Path]]:
    """Two photos of one person (the chat names them), one photo each of four other people
    (the commands name them one by one) and some photos without faces."""
    folder = root / "photos"
    folder.mkdir()
    for name in ("portrait.jpg", "portrait-orientation-6.jpg"):
        shutil.copy(DEMO / name, folder / name)
    cli_photos = []
    for i, person in enumerate(CLI_PEOPLE):
        shutil.copy(eval_faces_dir() / person / "1.jpg", folder / f"cli{i}.jpg")
        cli_photos.append(folder / f"cli{i}.jpg")
    for i in range(6):
        noise_photo(folder / f"plain{i}.jpg", seed=i)
    return folder, cli_photos


def chat_turn(client, text: str) -> str:
    """Send one chat message; the assistant's answer as text."""
    chat = client.predict({"text": text, "files": []}, api_name="/respond")[0]
    content = chat[-1]["content"]
    return " ".join(part.get("text", "") for part in content if isinstance(part, dict))


def chat_side(url: str, renames: queue.Queue, given: list[str], errors: list[str]) -> None:
    """Name the two portraits' group, then rename each name the commands hand over."""
    from gradio_client import Client

    try:
        client = Client(url, verbose=False, download_files=False)
        answer = chat_turn(client, "who do you know?")
        assert "1 · 2 photos" in answer, answer  # the two portraits, offered as person 1
        answer = chat_turn(client, "person 1 is Zoe")
        assert "Zoe" in answer, answer
        given.append("Zoe")
        while (old := renames.get(timeout=300)) is not None:
            new = RENAMED[old]
            answer = chat_turn(client, f"rename {old} to {new}")
            assert new in answer, answer
            given.append(new)
            chat_turn(client, "who do you know?")
    except Exception as err:  # the test thread reports it
        errors.append(repr(err))


def command_side(
    data: Path, clip: str, folder: Path, photos: list[Path], renames: queue.Queue
) -> list[str]:
    """Commands in a loop: name each photo's face, rename every other name, hand the rest to
    the chat, and look and index in between. The names they leave."""
    left = []
    for i, (photo, name) in enumerate(zip(photos, NAMES, strict=True)):
        cli(data, clip, "name", str(photo), name)
        cli(data, clip, "stats", "--json")
        if i % 2:
            cli(data, clip, "rename", name, RENAMED[name])
            left.append(RENAMED[name])
        else:
            renames.put(name)
        cli(data, clip, "people", "--json")
        cli(data, clip, "index", str(folder), "--no-ocr")
    renames.put(None)
    return left


def wait_until_catalogued(data: Path, photo: Path, timeout: float = 120) -> None:
    """Wait until the watching server has catalogued a photo that arrived last."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True) as conn:
            if conn.execute("SELECT 1 FROM photos WHERE path=?", (str(photo),)).fetchone():
                return
        time.sleep(0.3)
    raise AssertionError(f"the server never catalogued {photo}")


def check_nothing_lost(data: Path, folder: Path, names: list[str]) -> None:
    """The catalog whole, each photo once, every name kept, FAISS agreeing with the catalog."""
    with sqlite3.connect(data / "catalog.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        paths = [r[0] for r in conn.execute("SELECT path FROM photos WHERE status='ok'")]
        people = {r[0] for r in conn.execute("SELECT name FROM people WHERE name IS NOT NULL")}
        generation = conn.execute("SELECT value FROM meta WHERE key='generation.images'")
        generation = int(generation.fetchone()[0])
        with_vectors = {r[0] for r in conn.execute("SELECT DISTINCT photo_id FROM image_vectors")}
    on_disk = sorted(str(p) for p in folder.iterdir() if p.suffix == ".jpg")
    assert sorted(paths) == on_disk, "photos lost or catalogued twice"
    assert set(names) <= people, f"names lost from the catalog: {set(names) - people}"
    saved = json.loads((data / "people.json").read_text())
    in_file = {p["name"] for p in saved["people"]}
    assert set(names) <= in_file, f"names missing from people.json: {set(names) - in_file}"
    meta = json.loads((data / "images.json").read_text())
    if meta["generation"] == generation:
        import faiss

        from index.vectors import _stored_ids

        stored = set(_stored_ids(faiss.read_index(str(data / "images.faiss"))).tolist())
        assert stored == with_vectors, "the saved FAISS index disagrees with the catalog"


def test_server_chat_and_commands_at_once_lose_nothing(tmp_path, tiny_clip_spec):
    folder, cli_photos = library_folder(tmp_path)
    data = tmp_path / "data"
    server = Server(folder, data, tiny_clip_spec, tmp_path / "serve1.log")
    try:
        server.wait_for("Watching")
        renames: queue.Queue = queue.Queue()
        given: list[str] = []
        errors: list[str] = []
        chat = threading.Thread(target=chat_side, args=(server.url, renames, given, errors))
        chat.start()
        for i in range(3):  # photos arriving while everything else runs
            noise_photo(folder / f"late{i}.jpg", seed=100 + i)
        left = command_side(data, tiny_clip_spec, folder, cli_photos, renames)
        chat.join(timeout=300)
        assert not errors, errors
        given += left
        noise_photo(folder / "last.jpg", seed=200)
        wait_until_catalogued(data, folder / "last.jpg")
    finally:
        server.stop(signal.SIGKILL)
    check_nothing_lost(data, folder, given)

    again = Server(folder, data, tiny_clip_spec, tmp_path / "serve2.log")
    try:
        again.wait_for("Watching")
        cli(data, tiny_clip_spec, "people")
    finally:
        again.stop(signal.SIGTERM)
    check_nothing_lost(data, folder, given)
