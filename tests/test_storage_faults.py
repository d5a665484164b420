"""Bad storage: a damaged or lost catalog says so; a full disk stops cleanly and resumes."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from index.catalog import Catalog
from index.errors import CatalogError, WriteFailed
from index.library import Library
from index.settings import Settings
from tests.photo_files import noise_photo

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, env_data: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "app.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, tiny_clip_spec) -> tuple[Path, Path]:
    """A small indexed library: (photos folder, data dir)."""
    base = tmp_path_factory.mktemp("lib")
    for i in range(4):
        noise_photo(base / "photos" / f"p{i}.jpg", seed=i)
    r = cli(
        "index",
        str(base / "photos"),
        "--data",
        str(base / "data"),
        "--clip",
        tiny_clip_spec,
        "--no-faces",
    )
    assert r.returncode == 0, r.stderr
    return base / "photos", base / "data"


def damaged_copy(indexed, tmp_path, damage) -> Path:
    data = tmp_path / "data"
    shutil.copytree(indexed[1], data)
    damage(data / "catalog.sqlite")
    return data


def garbage_head(path: Path) -> None:
    with open(path, "r+b") as f:
        f.write(os.urandom(4096))


def truncate_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def text_file(path: Path) -> None:
    path.write_text("my shopping list\n")


def zero_bytes(path: Path) -> None:
    os.truncate(path, 0)


def deleted(path: Path) -> None:
    path.unlink()


COMMANDS = [
    ["stats"],
    ["search", "red"],
    ["people"],
    ["parse", "Alice in 2019"],
    ["index", "{photos}"],
]


@pytest.mark.parametrize(
    "damage, what",
    [
        (garbage_head, "not an SQLite database"),
        (truncate_half, "truncated"),
        (text_file, "not an SQLite database"),
    ],
)
def test_a_damaged_catalog_is_named_with_what_to_do_by_every_command(
    indexed, tmp_path, tiny_clip_spec, damage, what
):
    data = damaged_copy(indexed, tmp_path, damage)
    before = (data / "catalog.sqlite").read_bytes()
    for command in COMMANDS:
        args = [a.format(photos=indexed[0]) for a in command]
        r = cli(*args, "--data", str(data), "--clip", tiny_clip_spec, "--no-faces")
        assert r.returncode != 0, command
        assert "Traceback" not in r.stderr, r.stderr
        lines = r.stderr.strip().splitlines()
        message = lines[-1]
        assert str(data / "catalog.sqlite") in message and what in message, r.stderr
        assert "mv " in message and "index FOLDER" in message
    assert (data / "catalog.sqlite").read_bytes() == before  # nothing written into it


def test_serve_does_not_start_on_a_damaged_catalog(indexed, tmp_path):
    data = damaged_copy(indexed, tmp_path, truncate_half)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(
        [sys.executable, "app.py", "serve", "--data", str(data), "--port", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode != 0 and "is damaged: it is truncated" in r.stderr, r.stderr
    assert "Serving the chat" not in r.stdout


@pytest.mark.parametrize("damage, state", [(zero_bytes, "empty (0 bytes)"), (deleted, "missing")])
def test_a_lost_catalog_is_reported_not_recreated_empty(
    indexed, tmp_path, tiny_clip_spec, damage, state
):
    data = damaged_copy(indexed, tmp_path, damage)
    r = cli("stats", "--data", str(data))
    assert r.returncode != 0 and state in r.stderr and "thumbs" in r.stderr, r.stderr
    assert not (data / "catalog.sqlite").exists() or (data / "catalog.sqlite").stat().st_size == 0
    # Indexing rebuilds it, and says so.
    r = cli("index", str(indexed[0]), "--data", str(data), "--clip", tiny_clip_spec, "--no-faces")
    assert r.returncode == 0, r.stderr
    assert "was missing" in r.stdout and "4 new" in r.stdout


def test_damage_deep_inside_is_found_before_serving_or_indexing(indexed, tmp_path):
    data = damaged_copy(indexed, tmp_path, lambda p: None)
    catalog = data / "catalog.sqlite"
    with sqlite3.connect(catalog) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    with open(catalog, "r+b") as f:  # garbage over every page but the first: headers intact
        for n in range(1, pages):
            f.seek(n * page)
            f.write(b"\xff" * page)
    with pytest.raises(CatalogError, match="is damaged"):
        Library(data, verify=True, faces=False)


# --- a full disk (a small tmpfs) ---


@pytest.fixture
def small_disk(tmp_path):
    """A 1.5 MB tmpfs; skipped where mounting is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip() or 'not root'})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def grow(mount: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)


def test_a_full_disk_while_indexing_stops_with_one_line_and_the_next_run_resumes(
    tmp_path, small_disk, tiny_clip_spec
):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(24):  # pixel noise: thumbnails that do not compress (~150 KB each)
        pixels = np.random.default_rng(i).integers(0, 255, (700, 900, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(photos / f"p{i:02}.jpg", quality=90)
    data = small_disk / "data"
    args = ["index", str(photos), "--data", str(data), "--clip", tiny_clip_spec, "--no-faces"]
    r = cli(*args)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr
    message = r.stderr.strip().splitlines()[-1]
    assert "disk is full" in message and "Free some space" in message, r.stderr
    assert str(data) in message
    assert not list(data.rglob("*.tmp")), "a half-written file was left behind"
    with sqlite3.connect(data / "catalog.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    grow(small_disk, "64m")
    r = cli(*args, "--json")
    assert r.returncode == 0, r.stderr
    with Library(data, faces=False, read_only=True) as lib:
        stats = lib.stats()
    assert stats["photos"] == 24 and stats["vectors"] == 24 and stats["skipped"] == 0


def test_a_full_disk_under_the_catalog_rolls_the_batch_back(small_disk):
    catalog = Catalog(small_disk / "data")
    ballast = fill(small_disk)
    with pytest.raises(WriteFailed, match="disk is full") as err, catalog.transaction():
        for i in range(2000):
            catalog.upsert_photo(
                {
                    "path": f"/p/{i}.jpg",
                    "path_raw": b"x",
                    "size": 1,
                    "mtime_ns": 1,
                    "status": "ok",
                    "hash": np.random.default_rng(i).bytes(1000).hex(),
                }
            )
    assert "catalog.sqlite" in str(err.value)
    ballast.unlink()
    assert catalog.counts()["photos"] == 0  # all or nothing
    with catalog.transaction():
        catalog.upsert_photo(
            {"path": "/p/a.jpg", "path_raw": b"x", "size": 1, "mtime_ns": 1, "status": "ok"}
        )
    assert catalog.counts()["photos"] == 1
    catalog.close()


def fill(disk: Path) -> Path:
    """Write a ballast file until the disk is full; returns it."""
    ballast = disk / "ballast"
    with open(ballast, "wb", buffering=0) as f:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\1" * size)
            except OSError:
                continue  # full at this size: fill the rest in smaller pieces
    return ballast


def test_a_full_disk_while_saving_the_vector_index_leaves_no_half_file(small_disk):
    from index.vectors import VectorStore

    store = VectorStore(small_disk, "images", Settings())
    store.build(np.arange(600), np.ones((600, 512), np.float32), generation=1, model="m")
    fill(small_disk)
    with pytest.raises(WriteFailed, match="disk is full"):
        store.save()
    assert not (small_disk / "images.faiss").exists()
    assert not list(small_disk.glob("*.tmp"))
    assert len(store) == 600  # still searchable from memory


def test_a_command_on_a_full_disk_leaves_no_shared_memory_file_behind(small_disk):
    data = small_disk / "data"
    catalog = Catalog(data)
    with catalog.transaction():
        catalog.upsert_photo(
            {"path": "/p/a.jpg", "path_raw": b"x", "size": 1, "mtime_ns": 1, "status": "ok"}
        )
    catalog.close()  # the last connection: -wal and -shm are gone
    ballast = fill(small_disk)
    r = cli("stats", "--data", str(data))
    assert r.returncode != 0 and "the disk is full (0 bytes free)" in r.stderr, r.stderr
    assert sorted(p.name for p in data.iterdir()) == ["catalog.sqlite"], "-shm or -wal left"
    ballast.unlink()
    r = cli("stats", "--json", "--data", str(data))
    assert r.returncode == 0 and '"photos": 1' in r.stdout, r.stderr
