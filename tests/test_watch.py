"""A watched library keeps itself current: photos added, changed, moved, deleted, in bursts,
and, while `serve --library` runs, found or gone within a minute without a restart."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from photo_files import noise_photo

from index.errors import CatalogError
from index.library import Library
from index.settings import Settings
from index.types import DateRange, Query

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo" / "photos"
QUICK = Settings().override(watch_quiet_s=0.3, watch_max_wait_s=5.0, watch_rescan_s=3600.0)
FROM_2015 = Query(
    raw="photos from 2015", dates=DateRange(datetime(2015, 1, 1), datetime(2016, 1, 1)), limit=100
)


def eventually(check, timeout: float = 60.0):
    """Poll `check` until it returns something true; fail after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(
                f"still not true after {timeout:.0f} s: {check.__doc__ or check} ({value!r})"
            )
        time.sleep(0.2)


def opened(data: Path) -> Library | None:
    """The served catalog read-only, or None while the server is still creating it."""
    try:
        return Library(data, read_only=True)
    except CatalogError:
        return None


def names(lib: Library, query: Query = FROM_2015) -> set[str]:
    return {Path(h.path).name for h in lib.search(query).hits}


@pytest.fixture()
def watched(tmp_path: Path, tiny_clip_spec: str):
    folder = tmp_path / "photos"
    noise_photo(folder / "old.jpg", seed=1, taken=datetime(2015, 3, 1))
    lib = Library(tmp_path / "data", clip=tiny_clip_spec, settings=QUICK, faces=False, ocr=False)
    lib.index(folder)
    reports = []
    watcher = lib.watch([folder], done=reports.append)
    yield lib, folder, reports
    watcher.stop()
    lib.close()


def test_a_photo_added_to_a_watched_folder_is_found(watched):
    lib, folder, _ = watched
    noise_photo(folder / "trip" / "new.jpg", seed=2, taken=datetime(2015, 7, 4))
    eventually(lambda: "new.jpg" in names(lib))
    assert names(lib) == {"old.jpg", "new.jpg"}


def test_a_changed_photo_is_indexed_again(watched):
    lib, folder, _ = watched
    before = lib.catalog.photo_by_path(str((folder / "old.jpg").resolve()))
    noise_photo(folder / "old.jpg", seed=5, taken=datetime(2016, 1, 2))
    eventually(lambda: "old.jpg" not in names(lib))
    after = lib.catalog.photo_by_path(str((folder / "old.jpg").resolve()))
    assert after["hash"] != before["hash"] and after["taken_at"].startswith("2016")


def test_a_deleted_photo_leaves_the_results(watched):
    lib, folder, _ = watched
    (folder / "old.jpg").unlink()
    eventually(lambda: not names(lib))
    assert lib.catalog.counts()["photos"] == 0


def test_a_moved_photo_keeps_its_catalog_row(watched):
    lib, folder, _ = watched
    before = lib.catalog.photo_by_path(str((folder / "old.jpg").resolve()))
    (folder / "2015").mkdir()
    (folder / "old.jpg").rename(folder / "2015" / "renamed.jpg")
    eventually(lambda: "renamed.jpg" in names(lib))
    after = lib.catalog.photo_by_path(str((folder / "2015" / "renamed.jpg").resolve()))
    assert after["id"] == before["id"] and lib.catalog.counts()["photos"] == 1


def test_a_burst_of_photos_is_indexed_in_a_few_batches(watched):
    lib, folder, reports = watched
    for i in range(40):
        noise_photo(folder / "import" / f"IMG_{i:04d}.jpg", seed=10 + i, taken=datetime(2015, 8, 1))
    eventually(lambda: len(names(lib)) == 41)
    assert sum(r.new for r in reports) == 40
    assert len(reports) <= 4  # batched, not one index run per photo


def test_without_file_events_the_periodic_rescan_finds_new_photos(tmp_path, tiny_clip_spec):
    folder = tmp_path / "photos"
    folder.mkdir()
    rescanning = QUICK.override(watch_events=False, watch_rescan_s=1.0)
    with Library(
        tmp_path / "data", clip=tiny_clip_spec, settings=rescanning, faces=False, ocr=False
    ) as lib:
        watcher = lib.watch([folder])
        try:
            assert not watcher.using_events
            noise_photo(folder / "late.jpg", seed=3, taken=datetime(2015, 5, 5))
            eventually(lambda: names(lib) == {"late.jpg"})
        finally:
            watcher.stop()


def test_a_moved_photo_keeps_its_people(tmp_path, tiny_clip_spec):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("portrait.jpg", "portrait-orientation-6.jpg"):
        shutil.copy(DEMO / name, folder / name)
    with Library(tmp_path / "data", clip=tiny_clip_spec, settings=QUICK, ocr=False) as lib:
        lib.index(folder)
        lib.people.name_face(str(folder / "portrait.jpg"), "Marie Curie")
        watcher = lib.watch([folder])
        try:
            (folder / "lab").mkdir()
            (folder / "portrait.jpg").rename(folder / "lab" / "curie.jpg")
            moved = str((folder / "lab" / "curie.jpg").resolve())
            eventually(lambda: lib.catalog.photo_by_path(moved))
            marie = lib.search(Query(raw="Marie Curie", people_all=("Marie Curie",)))
            assert {Path(h.path).name for h in marie.hits} == {
                "curie.jpg",
                "portrait-orientation-6.jpg",
            }
        finally:
            watcher.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_library_finds_a_copied_photo_and_drops_a_deleted_one(tmp_path, tiny_clip_spec):
    folder = tmp_path / "photos"
    noise_photo(folder / "old.jpg", seed=1, taken=datetime(2015, 3, 1))
    data = tmp_path / "data"
    env = {**os.environ, "PIR_WATCH_QUIET_S": "0.5", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, str(ROOT / "app.py"), "serve", "--library", str(folder)]
    cmd += ["--data", str(data), "--clip", tiny_clip_spec, "--no-faces", "--no-ocr"]
    cmd += ["--port", str(_free_port())]
    log = tmp_path / "serve.log"
    server = subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=log.open("w"), text=True)
    try:
        lib = eventually(lambda: opened(data), timeout=120)  # once the server has made it
        eventually(lambda: names(lib) == {"old.jpg"}, timeout=120)  # the first index run
        # The watcher starts once that run is over and says so in the status line.
        eventually(lambda: "Watching" in log.read_text(errors="replace"), timeout=120)
        noise_photo(tmp_path / "new.jpg", seed=2, taken=datetime(2015, 9, 9))
        shutil.copy(tmp_path / "new.jpg", folder / "new.jpg")
        eventually(lambda: names(lib) == {"old.jpg", "new.jpg"})
        (folder / "old.jpg").unlink()
        eventually(lambda: names(lib) == {"new.jpg"})
        lib.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
