"""The index-stage protocol (index/stage.py): a new stage is a class and a registration.

The stage here is a test double that records what it is given; the indexer, the catalog,
the decoding and the photos are real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from index import scan
from index.catalog import Catalog
from index.indexer import Indexer
from index.settings import Settings
from index.stage import Run
from tests.photo_files import noise_photo


class Recorder:
    """A stage that keeps, per photo, the size of the copy it was handed."""

    uses_worker_cores = False

    def __init__(self, name: str, decode_size: int):
        self.name = name
        self.doing = f"recording {name}"
        self.decode_size = decode_size
        self.stored: dict[int, tuple[int, int]] = {}
        self.analysed: list[scan.Decoded] = []
        self.batches = 0

    def begin(self, catalog: Catalog, run: Run) -> set[int] | None:
        rows = catalog.photos_under(run.root or "/").values()
        return {r["id"] for r in rows if r["status"] == "ok" and r["id"] not in self.stored}

    def analyze(self, decoded: scan.Decoded) -> tuple[int, int]:
        self.analysed.append(decoded)
        return decoded.image.size

    def batch(self, analysed: list) -> list:
        return analysed

    def write(self, catalog: Catalog, photo_id: int, result: tuple[int, int]) -> bool:
        self.stored[photo_id] = result
        return True

    def after_batch(self, catalog: Catalog, photo_ids: list[int]) -> None:
        self.batches += 1

    def end(self, catalog: Catalog, run: Run) -> None:
        run.notes.append(f"{self.name} saw {len(self.stored)} photos")


@pytest.fixture()
def catalog(tmp_path: Path):
    opened = Catalog(tmp_path / "data")
    yield opened
    opened.close()


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    photos = tmp_path / "photos"
    for k in range(5):
        noise_photo(photos / f"p{k}.jpg", size=(1600, 1200), seed=k)
    return photos


def test_a_registered_stage_runs_on_every_photo_once_and_resumes(catalog, folder):
    stage = Recorder("sizes", decode_size=400)
    report = Indexer(catalog, Settings(batch_size=2), [stage]).run(folder)
    assert report.new == 5 and report.done == {"sizes": 5}
    assert "sizes saw 5 photos" in report.notes
    assert len(stage.stored) == 5 and stage.batches == 3  # batches of two
    # The decode it got is no larger than the larger of its size and the thumbnail's.
    assert all(max(size) <= max(400, Settings().thumb_size) for size in stage.stored.values())

    again = Indexer(catalog, Settings(batch_size=2), [stage]).run(folder)
    assert again.unchanged == 5 and again.done == {}

    forgotten = next(iter(stage.stored))
    del stage.stored[forgotten]  # as if killed before this photo's batch committed
    resumed = Indexer(catalog, Settings(batch_size=2), [stage]).run(folder)
    assert resumed.done == {"sizes": 1} and forgotten in stage.stored


def test_stages_that_run_together_share_one_decode(catalog, folder, monkeypatch):
    decodes = []
    real_decode = scan.decode

    def counting(data, settings, digest=None, size=None, **kw):
        decodes.append(size)
        return real_decode(data, settings, digest, size, **kw)

    monkeypatch.setattr(scan, "decode", counting)
    small, large = Recorder("small", decode_size=300), Recorder("large", decode_size=900)
    Indexer(catalog, Settings(), [small, large]).run(folder)
    assert len(decodes) == 5 and set(decodes) == {900}  # once a photo, at the larger size
    assert {id(d) for d in small.analysed} == {id(d) for d in large.analysed}  # the same copy


def test_catch_up_runs_a_later_stage_on_catalogued_photos_without_walking(catalog, folder):
    first, later = Recorder("first", 400), Recorder("later", 400)
    Indexer(catalog, Settings(), [first]).run(folder)
    done = Indexer(catalog, Settings(), [later]).catch_up(path_root(folder))
    assert done.done == {"later": 5} and done.new == 0
    assert Indexer(catalog, Settings(), [later]).catch_up(path_root(folder)).done == {}


def path_root(folder: Path) -> str:
    from index.catalog import path_text

    return path_text(folder.resolve())


def test_sync_indexes_then_tells_then_reads_the_words(tmp_path, folder, monkeypatch):
    from index.library import Library

    order: list[str] = []
    with Library(tmp_path / "data", clip="local-dir:/nonexistent", faces=False) as lib:
        monkeypatch.setattr(lib, "read_words", lambda *a, **k: order.append("words") or "read")
        report, words = lib.sync(folder, indexed=lambda r: order.append(f"indexed {r.new}"))
    assert order == ["indexed 5", "words"] and words == "read"
