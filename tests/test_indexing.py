"""Indexing a folder: incremental, resumable, honest about what it skipped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from index.catalog import Catalog
from index.errors import CatalogError
from index.library import Library
from index.models import ClipModel
from index.settings import Settings
from tests.photo_files import awkward_folder, noise_photo

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def model_calls(monkeypatch) -> list[int]:
    """Counts images through the CLIP image tower (to prove no model work was done)."""
    calls: list[int] = []
    real = ClipModel.encode_preprocessed

    def counting(self, batch):
        calls.append(len(batch))
        return real(self, batch)

    monkeypatch.setattr(ClipModel, "encode_preprocessed", counting)
    return calls


def make_library(data: Path, clip: str, **settings) -> Library:
    return Library(data, clip=clip, settings=Settings(**settings), faces=False)


def photo_folder(root: Path, n: int = 6) -> Path:
    for i in range(n):
        noise_photo(root / f"p{i}.jpg", seed=i)
    return root


def test_awkward_folder_is_indexed_and_each_bad_file_has_a_reason(tmp_path, tiny_clip_spec):
    files = awkward_folder(tmp_path / "photos")
    lib = make_library(tmp_path / "data", tiny_clip_spec)
    report = lib.index(tmp_path / "photos")
    skipped = {Path(p).name: r for p, r in report.skipped}
    assert set(skipped) == {"zero.jpg", "truncated.jpg", "notes.jpg", "bomb.png", "loop", ".hidden"}
    assert "symlink loop" in skipped["loop"] and "a hidden folder" in skipped[".hidden"]
    assert "empty" in skipped["zero.jpg"] and "too large" in skipped["bomb.png"]
    good = len(files) - 4
    assert report.new == good and report.embedded == good
    stats = lib.stats()
    assert stats["photos"] == good and stats["skipped"] == 4 and stats["vectors"] == good
    assert len(lib.image_index()) == good


def test_reindex_of_unchanged_folder_does_no_model_work(tmp_path, tiny_clip_spec, model_calls):
    photos = photo_folder(tmp_path / "photos")
    make_library(tmp_path / "data", tiny_clip_spec).index(photos)
    assert sum(model_calls) == 6
    model_calls.clear()
    report = make_library(tmp_path / "data", tiny_clip_spec).index(photos)
    assert model_calls == []
    assert (report.new, report.unchanged, report.embedded) == (0, 6, 0)


def test_changed_file_is_reembedded(tmp_path, tiny_clip_spec, model_calls):
    photos = photo_folder(tmp_path / "photos")
    lib = make_library(tmp_path / "data", tiny_clip_spec)
    lib.index(photos)
    before = lib.catalog.image_vector(lib.resolve_photo("p2.jpg")["id"], lib.clip.spec)
    noise_photo(photos / "p2.jpg", seed=99)
    model_calls.clear()
    report = lib.index(photos)
    assert (report.changed, report.embedded, sum(model_calls)) == (1, 1, 1)
    after = lib.catalog.image_vector(lib.resolve_photo("p2.jpg")["id"], lib.clip.spec)
    assert not np.allclose(before, after)


def test_deleted_file_leaves_the_catalog_and_the_vector_index(tmp_path, tiny_clip_spec):
    photos = photo_folder(tmp_path / "photos")
    lib = make_library(tmp_path / "data", tiny_clip_spec)
    lib.index(photos)
    gone_id = lib.resolve_photo("p3.jpg")["id"]
    (photos / "p3.jpg").unlink()
    report = lib.index(photos)
    assert report.removed == 1
    assert lib.catalog.photo(gone_id) is None
    ids, _ = lib.image_index().search(np.ones(lib.clip.dim), k=10)
    assert gone_id not in ids and len(ids) == 5


def test_moved_file_keeps_its_vectors_without_model_work(tmp_path, tiny_clip_spec, model_calls):
    photos = photo_folder(tmp_path / "photos")
    lib = make_library(tmp_path / "data", tiny_clip_spec)
    lib.index(photos)
    old = lib.resolve_photo("p1.jpg")
    (photos / "trip").mkdir()
    shutil.move(photos / "p1.jpg", photos / "trip" / "renamed.jpg")
    model_calls.clear()
    report = lib.index(photos)
    assert (report.moved, report.removed, report.new, sum(model_calls)) == (1, 0, 0, 0)
    moved = lib.resolve_photo("trip/renamed.jpg")
    assert moved["id"] == old["id"]
    assert lib.catalog.image_vector(moved["id"], lib.clip.spec) is not None


def test_file_deleted_between_scan_and_read_is_reported(tmp_path, tiny_clip_spec, monkeypatch):
    photos = photo_folder(tmp_path / "photos", n=3)
    from index import scan

    real_read = scan.read_bytes

    def vanishing(path):
        if path.endswith("p0.jpg"):
            os.unlink(path)
        return real_read(path)

    monkeypatch.setattr(scan, "read_bytes", vanishing)
    report = make_library(tmp_path / "data", tiny_clip_spec).index(photos)
    assert report.new == 2
    assert [(Path(p).name, r) for p, r in report.skipped] == [
        ("p0.jpg", "the file disappeared while indexing")
    ]


def test_without_clip_weights_photos_are_catalogued_then_filled_in(tmp_path, tiny_clip_spec):
    photos = photo_folder(tmp_path / "photos", n=4)
    missing = make_library(tmp_path / "data", f"local-dir:{tmp_path / 'no-such-model'}")
    report = missing.index(photos)
    assert report.new == 4 and report.embedded == 0
    assert any("text search needs the model" in n for n in report.notes)
    missing.close()
    report = make_library(tmp_path / "data", tiny_clip_spec).index(photos)
    assert (report.new, report.unchanged, report.embedded) == (0, 4, 4)


def test_another_clip_model_is_never_mixed_in(tmp_path, tiny_clip_spec, tiny_clip_spec_b):
    photos = photo_folder(tmp_path / "photos", n=3)
    make_library(tmp_path / "data", tiny_clip_spec).index(photos)
    other = make_library(tmp_path / "data", tiny_clip_spec_b)
    with pytest.raises(CatalogError, match="--reembed"):
        other.index(photos)
    other.index(photos, reembed=True)
    assert other.catalog.vector_models() == {other.clip.spec: 3}


def test_vector_index_is_rebuilt_when_missing_or_corrupt(tmp_path, tiny_clip_spec):
    photos = photo_folder(tmp_path / "photos", n=4)
    make_library(tmp_path / "data", tiny_clip_spec).index(photos)
    (tmp_path / "data" / "images.faiss").write_bytes(b"garbage")
    assert len(make_library(tmp_path / "data", tiny_clip_spec).image_index()) == 4
    (tmp_path / "data" / "images.faiss").unlink()
    assert len(make_library(tmp_path / "data", tiny_clip_spec).image_index()) == 4
    assert (tmp_path / "data" / "images.faiss").exists()


def test_catalog_from_a_newer_schema_is_refused_clearly(tmp_path):
    Catalog(tmp_path).close()
    with sqlite3.connect(tmp_path / "catalog.sqlite") as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(CatalogError, match="newer version"):
        Catalog(tmp_path)


def test_data_dir_on_a_read_only_path_gets_a_clear_message():
    target = Path("/sys/pir-data")  # read-only even for root
    try:
        target.mkdir()
        target.rmdir()
        pytest.skip("/sys is writable on this machine")
    except OSError:
        pass  # read-only, as the test needs
    with pytest.raises(CatalogError, match="--data"):
        Catalog(target)


def test_catalog_uses_wal_and_records_the_clip_model(tmp_path, tiny_clip_spec):
    lib = make_library(tmp_path / "data", tiny_clip_spec)
    lib.index(photo_folder(tmp_path / "photos", n=2))
    assert lib.catalog.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert lib.catalog.model("clip")["spec"] == lib.clip.spec


def run_cli(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=300,
        **kw,
    )


def test_killed_indexer_resumes_without_duplicates(tmp_path, tiny_clip_spec):
    photos = tmp_path / "photos"
    for i in range(160):
        noise_photo(photos / f"img{i:03d}.jpg", size=(1600, 1200), seed=i)
    data = tmp_path / "data"
    args = ["index", str(photos), "--data", str(data), "--clip", tiny_clip_spec, "--no-faces"]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), *args],
        cwd=ROOT,
        env={**os.environ, "PIR_BATCH_SIZE": "4"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    committed = 0
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if (data / "catalog.sqlite").exists():
            try:
                with sqlite3.connect(data / "catalog.sqlite", timeout=1) as conn:
                    committed = conn.execute("SELECT count(*) FROM photos").fetchone()[0]
            except sqlite3.OperationalError:
                committed = 0
            if committed >= 8:
                break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < committed < 160, "the indexer should have been killed part-way"
    done = run_cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["new"] + report["unchanged"] == 160
    assert report["unchanged"] >= committed  # nothing committed before the kill was redone
    with sqlite3.connect(data / "catalog.sqlite") as conn:
        rows = conn.execute("SELECT count(*), count(DISTINCT path) FROM photos").fetchone()
        vectors = conn.execute("SELECT count(*) FROM image_vectors").fetchone()[0]
    assert rows == (160, 160) and vectors == 160


def test_cli_index_and_stats_speak_json(tmp_path, tiny_clip_spec):
    photos = photo_folder(tmp_path / "photos", n=3)
    (photos / "broken.jpg").write_text("nope")
    common = ["--data", str(tmp_path / "data"), "--clip", tiny_clip_spec, "--no-faces"]
    out = run_cli("index", str(photos), *common)
    assert out.returncode == 0, out.stderr
    assert "3 new" in out.stdout and "1 skipped" in out.stdout and "broken.jpg" in out.stdout
    stats = json.loads(run_cli("stats", "--json", *common).stdout)
    assert (stats["photos"], stats["skipped"], stats["vectors"]) == (3, 1, 3)
    assert stats["data_dir"] == str(tmp_path / "data")
    missing = run_cli("index", str(tmp_path / "nowhere"), *common)
    assert missing.returncode != 0 and "not a folder" in missing.stderr


def test_pir_data_environment_variable_chooses_the_data_dir(tmp_path, tiny_clip_spec):
    photos = photo_folder(tmp_path / "photos", n=1)
    env = {"PIR_DATA": str(tmp_path / "envdata")}
    out = run_cli("index", str(photos), "--clip", tiny_clip_spec, "--no-faces", env=env)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "envdata" / "catalog.sqlite").exists()


def test_search_by_place_and_year_from_exif_through_the_command_line(tmp_path, tiny_clip_spec):
    photos = tmp_path / "photos"
    noise_photo(photos / "eiffel.jpg", seed=1, gps=(48.8584, 2.2945), taken=datetime(2019, 7, 1))
    noise_photo(photos / "rome.jpg", seed=2, gps=(41.8902, 12.4922), taken=datetime(2021, 5, 2))
    noise_photo(photos / "home.jpg", seed=3, taken=datetime(2019, 3, 3))
    common = ["--data", str(tmp_path / "data"), "--clip", tiny_clip_spec, "--no-faces"]
    assert run_cli("index", str(photos), *common).returncode == 0

    def found(text: str) -> list[str]:
        out = run_cli("search", text, "--json", *common)
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert {"query", "hits"} <= set(doc)
        return sorted(Path(h["path"]).name for h in doc["hits"])

    assert found("photos in Paris") == ["eiffel.jpg"]
    assert found("pictures from Italy") == ["rome.jpg"]
    assert found("photos from 2019") == ["eiffel.jpg", "home.jpg"]
    assert found("France in 2021") == []


def test_an_older_catalog_is_upgraded_step_by_step_keeping_its_photos(tmp_path, tiny_clip_spec):
    from index import catalog as catalog_module

    photos = photo_folder(tmp_path / "photos", n=2)
    make_library(tmp_path / "data", tiny_clip_spec).index(photos)
    with sqlite3.connect(tmp_path / "data" / "catalog.sqlite") as conn:
        # Back to what schema 1 had: no (person, photo) index (2), no backend column (3),
        # no inode change time (4), no words in photos (5), no people counter (6), no
        # companion files (7), no duplicate finder's hashes (8), no motion clips (9), no
        # videos (10), no people.json change counters (11), no times of a video's faces and
        # words (12).
        conn.execute("DROP INDEX faces_person_photo")
        conn.execute("DROP TABLE companions")
        conn.execute("DROP TABLE photo_looks")
        conn.execute("ALTER TABLE photos DROP COLUMN clip_start")
        conn.execute("ALTER TABLE photos DROP COLUMN clip_end")
        conn.execute("DROP TABLE moments")
        conn.execute("DROP INDEX photos_kind")
        conn.execute("ALTER TABLE photos DROP COLUMN kind")
        conn.execute("ALTER TABLE photos DROP COLUMN duration_s")
        conn.execute("ALTER TABLE faces DROP COLUMN time_s")
        conn.execute("ALTER TABLE image_vectors DROP COLUMN backend")
        conn.execute("ALTER TABLE photos DROP COLUMN ctime_ns")
        for table in ("text_search", "text_lines", "photo_text"):
            conn.execute(f"DROP TABLE {table}")
        for trigger in (
            "faces_people_insert",
            "faces_people_update",
            "faces_people_delete",
            "photos_dates_update",
            "people_file_face_in",
            "people_file_face_moved",
            "people_file_face_out",
            "people_file_refusal_in",
            "people_file_refusal_out",
            "people_file_alias_in",
            "people_file_alias_moved",
            "people_file_alias_out",
            "people_file_photo_hash",
        ):
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute("ALTER TABLE people DROP COLUMN changes")
        conn.execute("PRAGMA user_version = 1")
    upgraded = Catalog(tmp_path / "data")
    assert upgraded.conn.execute("PRAGMA user_version").fetchone()[0] == (
        catalog_module.SCHEMA_VERSION
    )
    indexes = {r[0] for r in upgraded.conn.execute("SELECT name FROM sqlite_master")}
    assert {"faces_person_photo", "photo_text", "text_search", "companions", "moments"} <= indexes
    assert upgraded.counts()["photos"] == 2
    assert upgraded.vector_backends(tiny_clip_spec) == {"torch": 2}  # old vectors: torch's


def test_a_photo_moved_and_also_copied_keeps_its_row_once_and_indexes_the_copy(
    tmp_path, tiny_clip_spec, model_calls
):
    photos = photo_folder(tmp_path / "photos", n=2)
    lib = make_library(tmp_path / "data", tiny_clip_spec)
    lib.index(photos)
    old_id = lib.resolve_photo("p0.jpg")["id"]
    shutil.copy(photos / "p0.jpg", photos / "copy.jpg")
    shutil.move(photos / "p0.jpg", photos / "moved.jpg")
    model_calls.clear()
    report = lib.index(photos)
    assert (report.moved, report.new, report.removed) == (1, 1, 0)
    ids = {lib.resolve_photo(name)["id"] for name in ("copy.jpg", "moved.jpg")}
    assert old_id in ids and len(ids) == 2
    assert sum(model_calls) == 1  # only the copy needed the model
    assert lib.stats()["photos"] == 3


def test_a_chat_library_reuses_its_index_while_another_one_is_indexing(tmp_path, tiny_clip_spec):
    photos = photo_folder(tmp_path / "photos", n=2)
    indexer = make_library(tmp_path / "data", tiny_clip_spec)
    indexer.index(photos)
    chat = make_library(tmp_path / "data", tiny_clip_spec, index_refresh_s=3600)
    eager = make_library(tmp_path / "data", tiny_clip_spec, index_refresh_s=0)
    assert len(chat.image_index()) == len(eager.image_index()) == 2
    for i in range(2, 4):
        noise_photo(photos / f"p{i}.jpg", seed=i)
    indexer.index(photos)
    assert len(chat.image_index()) == 2  # rebuilt moments ago: not again for every question
    assert len(chat.image_index(fresh=True)) == 4
    assert len(eager.image_index()) == 4


def test_read_only_library_searches_without_writing_its_index(tmp_path, tiny_clip_spec):
    photos = photo_folder(tmp_path / "photos", n=3)
    make_library(tmp_path / "data", tiny_clip_spec).index(photos)
    (tmp_path / "data" / "images.faiss").unlink()
    reader = Library(tmp_path / "data", clip=tiny_clip_spec, read_only=True, faces=False)
    assert len(reader.image_index()) == 3
    assert not (tmp_path / "data" / "images.faiss").exists()


def test_a_file_fixed_after_being_skipped_is_indexed_on_the_next_run(tmp_path, tiny_clip_spec):
    photos = photo_folder(tmp_path / "photos", n=2)
    broken = photos / "later.jpg"
    good = noise_photo(tmp_path / "good.jpg", seed=9).read_bytes()
    broken.write_bytes(b"\0" * len(good))  # same size as the photo it will become
    lib = make_library(tmp_path / "data", tiny_clip_spec)
    first = lib.index(photos)
    assert [Path(p).name for p, _ in first.skipped] == ["later.jpg"]
    again = lib.index(photos)  # untouched: still skipped, and the summary says so
    assert [Path(p).name for p, _ in again.skipped] == ["later.jpg"] and again.retried == 0
    # Fixed in place with the same size and mtime: only the ctime tells (like a chmod).
    st = broken.stat()
    broken.write_bytes(good)
    os.utime(broken, ns=(st.st_atime_ns, st.st_mtime_ns))
    fixed = lib.index(photos)
    assert fixed.retried == 1 and fixed.new == 1 and fixed.skipped == []
    assert lib.stats()["photos"] == 3 and lib.stats()["skipped"] == 0


def test_retry_skipped_reads_every_skipped_file_again(tmp_path, tiny_clip_spec, monkeypatch):
    photos = photo_folder(tmp_path / "photos", n=1)
    (photos / "bad.jpg").write_bytes(b"not a photo")
    lib = make_library(tmp_path / "data", tiny_clip_spec)
    lib.index(photos)
    assert lib.index(photos).retried == 0
    report = lib.index(photos, retry_skipped=True)
    assert (
        report.retried == 1 and len(report.skipped) == 1 and "not an image" in report.skipped[0][1]
    )


def test_photos_without_exif_are_dated_by_name_then_folder_then_file_time(tmp_path, tiny_clip_spec):
    photos = tmp_path / "photos"
    noise_photo(photos / "IMG_20190615_123045.jpg", seed=1)
    noise_photo(photos / "2018-03-02 Paris" / "cat.jpg", seed=2)
    noise_photo(photos / "misc" / "dog.jpg", seed=3)
    noise_photo(photos / "misc" / "xmp.jpg", seed=4)
    (photos / "misc" / "xmp.jpg.xmp").write_text(
        '<x:xmpmeta><rdf:Description xmp:CreateDate="2015-05-05T10:00:00"/></x:xmpmeta>'
    )
    noise_photo(photos / "misc" / "exif.jpg", seed=5, taken=datetime(2012, 1, 2, 3, 4, 5))
    lib = make_library(tmp_path / "data", tiny_clip_spec)
    lib.index(photos)
    got = {
        Path(r["path"]).name: (r["taken_at"], r["taken_source"])
        for r in lib.catalog.photos_under(str(photos.resolve())).values()
    }
    assert got["IMG_20190615_123045.jpg"] == ("2019-06-15T12:30:45", "filename")
    assert got["cat.jpg"] == ("2018-03-02T00:00:00", "folder")
    assert got["xmp.jpg"] == ("2015-05-05T10:00:00", "xmp")
    assert got["exif.jpg"] == ("2012-01-02T03:04:05", "exif")
    assert got["dog.jpg"][1] == "file"


def test_photos_dated_by_file_time_before_get_a_better_date_on_the_next_run(
    tmp_path, tiny_clip_spec
):
    photos = tmp_path / "photos"
    noise_photo(photos / "2016" / "07" / "beach.jpg", seed=1)
    lib = make_library(tmp_path / "data", tiny_clip_spec)
    lib.index(photos)
    (row,) = lib.catalog.photos_under(str(photos.resolve())).values()
    with lib.catalog.transaction():  # as an older version of the program catalogued it
        lib.catalog.set_photo_date(row["id"], "2026-11-30T10:00:00", "file")
    report = lib.index(photos)
    assert report.redated == 1
    assert lib.catalog.photo(row["id"])["taken_at"] == "2016-07-01T00:00:00"
    assert lib.index(photos).redated == 0
