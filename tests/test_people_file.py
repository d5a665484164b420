"""people.json: names survive a lost catalog, and move between libraries by hand."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from face_photos import eval_faces_dir

from index import people_file, people_snapshot
from index.catalog import Catalog
from index.errors import InvalidInput
from index.library import Library

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = {"colin_powell": 3, "tony_blair": 3, "rose_leslie": 2}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = eval_faces_dir()
    photos = tmp_path_factory.mktemp("named_photos")
    for person, n in PHOTOS.items():
        for p in sorted((root / person).iterdir())[:n]:
            shutil.copy(p, photos / f"{person}_{p.name}")
    shutil.copy(root / "_groups" / "fr_kit_with_rose.jpg", photos / "kit_and_rose.jpg")
    return photos


def who_is_where(lib: Library) -> dict[str, set[tuple[str, str]]]:
    """Each named person's faces as (photo file, who decided), plus aliases."""
    out: dict[str, set] = {}
    for face in lib.catalog.named_faces():
        photo = lib.catalog.photos_by_hash(face["photo_hash"])[0]
        out.setdefault(face["name"], set()).add((Path(photo["path"]).name, face["source"]))
    for person_id, aliases in lib.catalog.aliases().items():
        out.setdefault("aliases of " + lib.catalog.person(person_id)["name"], set()).update(aliases)
    return out


@pytest.mark.slow
def test_people_json_brings_every_name_back_after_the_catalog_is_deleted(
    folder, tmp_path, tiny_clip_spec
):
    data = tmp_path / "data"
    with Library(data, clip=tiny_clip_spec) as lib:
        lib.index(folder)
        lib.people.name_face("colin_powell_1.jpg", "Colin")
        lib.people.name_face("tony_blair_1.jpg", "Tony")
        lib.people.rename("Tony", "Tony Blair")
        lib.people.add_alias("Tony Blair", "Tony")
        lib.people.name_face("kit_and_rose.jpg", "Rose", face=2)
        lib.people.unassign("colin_powell_2.jpg", "Colin")
        before = who_is_where(lib)
    saved = json.loads((data / "people.json").read_text())
    assert [p["name"] for p in saved["people"]] == ["Colin", "Rose", "Tony Blair"]
    assert saved["people"][0]["not_faces"], "the refusal is kept too"
    assert {"Colin", "Tony Blair", "Rose"} <= set(before)

    for name in ("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"):
        (data / name).unlink(missing_ok=True)
    with Library(data, clip=tiny_clip_spec, rebuild=True) as lib:
        report = lib.index(folder)
        assert any("Names restored from people.json" in n for n in report.notes)
        assert who_is_where(lib) == before
        # The refusal came back with the name: clustering cannot put that face back on Colin.
        colin = {p for p, _ in who_is_where(lib)["Colin"]}
        assert "colin_powell_2.jpg" not in colin
        again = lib.index(folder)  # restored once: a second run changes nothing
        assert not any("restored" in n for n in again.notes)


@pytest.mark.slow
def test_people_export_and_import_by_hand(folder, tmp_path, tiny_clip_spec):
    data = tmp_path / "data"
    with Library(data, clip=tiny_clip_spec) as lib:
        lib.index(folder)
        lib.people.name_face("colin_powell_1.jpg", "Colin")
        before = who_is_where(lib)
    exported = tmp_path / "names.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "app.py", *args, "--data", str(data), "--clip", tiny_clip_spec],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )  # fmt: skip

    assert cli("people", "--export", str(exported)).returncode == 0
    assert cli("forget", "Colin").returncode == 0
    with Library(data, clip=tiny_clip_spec) as lib:
        assert "Colin" not in who_is_where(lib)
    r = cli("people", "--import", str(exported))
    assert r.returncode == 0 and "Colin" in r.stdout, r.stderr
    with Library(data, clip=tiny_clip_spec) as lib:
        assert who_is_where(lib) == before
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    r = cli("people", "--import", str(tmp_path / "bad.json"))
    assert r.returncode != 0 and "bad.json is not a people file" in r.stderr


def test_a_damaged_people_file_is_refused_with_its_name(tmp_path):
    bad = tmp_path / "people.json"
    for text in (
        "{",
        '{"format": "personal-image-retriever/people", "version": 1, "people": [{}]}',
    ):
        bad.write_text(text)
        with pytest.raises(InvalidInput, match="people.json"):
            people_file.load(bad)


def test_fingerprints_match_faces_found_again_by_overlapping_boxes(tmp_path):
    import numpy as np

    catalog = Catalog(tmp_path / "data")
    with catalog.transaction():
        pid = catalog.upsert_photo(
            {
                "path": "/p/a.jpg",
                "path_raw": b"/p/a.jpg",
                "size": 1,
                "mtime_ns": 1,
                "hash": "h1",
                "status": "ok",
            }
        )
        faces = [
            {"box": (10, 10, 50, 50), "landmarks": [], "score": 0.99, "vector": np.zeros(4)},
            {"box": (100, 10, 140, 50), "landmarks": [], "score": 0.99, "vector": np.zeros(4)},
        ]
        ids = catalog.put_faces(pid, "m", faces)
    doc = {
        "people": [
            {
                "name": "Ann",
                "aliases": ["Annie"],
                "faces": [{"photo": "h1", "box": [102, 12, 141, 52], "by": "user"}],
            },
            {"name": "Ghost", "faces": [{"photo": "gone", "box": [0, 0, 1, 1]}]},
        ]
    }
    with catalog.transaction():
        report = people_file.restore(catalog, doc, min_iou=0.5)
    assert report.people == ["Ann", "Ghost"] and report.faces == 1 and report.unmatched == 1
    assert catalog.faces_of_photo(pid)[1]["person_id"] == catalog.person_by_name("Annie")["id"]
    assert catalog.faces_of_photo(pid)[1]["source"] == "user"
    assert catalog.faces_of_photo(pid)[0]["person_id"] is None
    assert ids
    # Ghost's photo is not in this library (yet): the fingerprint waits in the file.
    people_snapshot.save_after_change(catalog, pending=report.pending)
    waiting = people_file.pending_of(tmp_path / "data" / "people.json")
    assert waiting == {
        "people": [{"name": "Ghost", "faces": [{"photo": "gone", "box": [0, 0, 1, 1]}]}]
    }
    with catalog.transaction():  # the folder holding it is indexed again
        gid = catalog.upsert_photo(
            {
                "path": "/q/g.jpg",
                "path_raw": b"/q/g.jpg",
                "size": 1,
                "mtime_ns": 1,
                "hash": "gone",
                "status": "ok",
            }
        )
        catalog.put_faces(
            gid, "m", [{"box": (0, 0, 1, 1), "landmarks": [], "score": 0.9, "vector": np.zeros(4)}]
        )
        later = people_file.restore(catalog, waiting, min_iou=0.5)
    people_snapshot.save_after_change(catalog, pending=later.pending)
    assert later.faces == 1 and people_file.pending_of(tmp_path / "data" / "people.json") is None
    assert catalog.faces_of_photo(gid)[0]["person_id"] == catalog.person_by_name("Ghost")["id"]
    catalog.close()
