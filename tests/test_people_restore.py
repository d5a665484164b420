"""Restoring people from people.json is complete and loud: corrections come back (also those
waiting for their photo), a damaged file is kept aside, reported and salvaged, and a file
ahead of its own catalog is taken back, never overwritten."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np

from index import people_file, people_snapshot
from index.catalog import Catalog
from index.faces import face_model_id
from index.people import People
from index.settings import Settings

BOX = (10.0, 10.0, 90.0, 90.0)
SETTINGS = Settings()
MODEL = face_model_id(SETTINGS)


def add_photo(catalog: Catalog, photo_hash: str, person: int | None = None) -> int:
    """A photo with one face (in `person`'s automatic group when given); returns the face id."""
    rng = np.random.default_rng(len(photo_hash))
    with catalog.transaction():
        photo = catalog.upsert_photo(
            {"path": f"/photos/{photo_hash}.jpg", "path_raw": b"x", "size": 1, "mtime_ns": 1,
             "hash": photo_hash, "status": "ok"}
        )  # fmt: skip
        face = {"box": BOX, "landmarks": [], "score": 0.99,
                "vector": rng.standard_normal(128).astype(np.float32)}  # fmt: skip
        (face_id,) = catalog.put_faces(photo, MODEL, [face])
        if person is not None:
            catalog.assign_faces([(face_id, person, 0.3)], source="auto")
    return face_id


def roster(catalog: Catalog) -> People:
    return People(catalog, SETTINGS, threading.RLock(), lambda image: [])


def person_of(catalog: Catalog, face_id: int) -> str | None:
    person_id = catalog.faces_by_id([face_id])[face_id]["person_id"]
    return None if person_id is None else catalog.person(person_id)["name"] or "an automatic group"


def write_people(data: Path, people: list[dict], catalog_id: str = "a-lost-catalog") -> Path:
    doc = {"format": people_file.FORMAT, "version": 1, "catalog_id": catalog_id,
           "revision": 3, "saved_at": "2026-01-01T00:00:00", "people": people}  # fmt: skip
    path = people_file.path_in(data)
    path.write_text(people_snapshot.dump(doc))
    return path


def fingerprint(photo_hash: str) -> dict:
    return {"photo": photo_hash, "box": list(BOX)}


def saved(data: Path) -> dict:
    return {p["name"]: p for p in json.loads(people_file.path_in(data).read_text())["people"]}


def test_a_refusal_comes_back_when_the_face_now_sits_in_an_automatic_group(tmp_path):
    catalog = Catalog(tmp_path)
    with catalog.transaction():
        group = catalog.add_person(None)  # the re-clustering put both faces together
    colin = add_photo(catalog, "colin-1", group)
    not_colin = add_photo(catalog, "someone-else", group)
    write_people(tmp_path, [{"name": "Colin", "aliases": [], "faces": [fingerprint("colin-1")],
                             "not_faces": [fingerprint("someone-else")]}])  # fmt: skip
    report = roster(catalog).restore_names()
    assert report.refusals == 1 and "1 'not this person' corrections" in report.summary()
    assert person_of(catalog, colin) == "Colin"
    assert person_of(catalog, not_colin) is None, "the refused face left the group"
    colin_id = catalog.person_by_name("Colin")["id"]
    assert catalog.rejections([not_colin]) == {not_colin: [colin_id]}
    assert saved(tmp_path)["Colin"]["not_faces"] == [fingerprint("someone-else")]
    # Naming the face's old group Colin again cannot take the refused face along.
    assert catalog_faces_of(catalog, colin_id) == [colin]
    catalog.close()


def catalog_faces_of(catalog: Catalog, person_id: int) -> list[int]:
    return [f["id"] for f in catalog.faces_of_person(person_id)]


def test_a_refusal_given_to_someone_by_the_user_is_recorded_and_the_face_stays(tmp_path):
    catalog = Catalog(tmp_path)
    with catalog.transaction():
        ann = catalog.add_person("Ann")
    face = add_photo(catalog, "ann-1")
    with catalog.transaction():
        catalog.assign_faces([(face, ann, 0.0)], source="user")
    write_people(tmp_path, [{"name": "Colin", "faces": [], "not_faces": [fingerprint("ann-1")]}])
    roster(catalog).restore_names()
    assert person_of(catalog, face) == "Ann"
    assert catalog.rejections([face]) == {face: [catalog.person_by_name("Colin")["id"]]}
    catalog.close()


def test_a_refusal_for_a_photo_not_indexed_yet_waits_and_is_applied_when_it_is(tmp_path):
    catalog = Catalog(tmp_path)
    add_photo(catalog, "colin-1")
    write_people(tmp_path, [{"name": "Colin", "aliases": [], "faces": [fingerprint("colin-1")],
                             "not_faces": [fingerprint("not-indexed-yet")]}])  # fmt: skip
    people = roster(catalog)
    people.restore_names()
    assert saved(tmp_path)["Colin"]["pending_not"] == [fingerprint("not-indexed-yet")]
    colin_id = catalog.person_by_name("Colin")["id"]
    late = add_photo(catalog, "not-indexed-yet", colin_id)  # clustering puts it on Colin
    report = people.restore_names()  # as the next index does
    assert report is not None and report.refusals == 1
    assert person_of(catalog, late) is None
    assert catalog.rejections([late]) == {late: [colin_id]}
    colin = saved(tmp_path)["Colin"]
    assert "pending_not" not in colin and colin["not_faces"] == [fingerprint("not-indexed-yet")]
    catalog.close()


def three_people(data: Path) -> bytes:
    path = write_people(
        data,
        [{"name": n, "aliases": [], "faces": [fingerprint(f"{n}-1")], "not_faces": []}
         for n in ("Ann", "Bob", "Cy")],
    )  # fmt: skip
    return path.read_bytes()


def test_a_cut_short_people_json_is_kept_aside_reported_and_its_readable_names_restored(
    tmp_path,
):
    catalog = Catalog(tmp_path)  # a new catalog: the old one was lost with people.json cut
    faces = {n: add_photo(catalog, f"{n}-1") for n in ("Ann", "Bob", "Cy")}
    whole = three_people(tmp_path)
    cut = whole[: whole.index(b'"Cy"') + 10]
    people_file.path_in(tmp_path).write_bytes(cut)
    report = roster(catalog).restore_names()
    copies = list(tmp_path.glob("people.json.damaged-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == cut, "kept aside, byte for byte"
    said = report.summary()
    assert f"{people_file.path_in(tmp_path)} was damaged: it is cut short" in said
    assert str(copies[0]) in said and "2 people (Ann, Bob)" in said
    assert "Names restored from people.json: Ann, Bob (2 faces)" in said
    assert person_of(catalog, faces["Ann"]) == "Ann" and person_of(catalog, faces["Bob"]) == "Bob"
    assert set(saved(tmp_path)) == {"Ann", "Bob"}, "people.json is whole again"
    again = roster(catalog).restore_names()
    assert again is None and len(list(tmp_path.glob("people.json.damaged-*"))) == 1
    catalog.close()


def test_a_people_json_that_is_not_json_is_kept_aside_and_said_to_be_unreadable(tmp_path):
    catalog = Catalog(tmp_path)
    people_file.path_in(tmp_path).write_bytes(b"\x00\x01 not json at all")
    report = roster(catalog).restore_names()
    (copy,) = tmp_path.glob("people.json.damaged-*")
    assert copy.read_bytes() == b"\x00\x01 not json at all"
    assert "was damaged: it is not valid JSON" in report.summary()
    assert "Nothing in it could be read." in report.summary()
    assert not people_file.path_in(tmp_path).exists(), "nobody named: no new file yet"
    catalog.close()


def test_a_wrong_shaped_people_json_does_not_block_indexing(tmp_path, tiny_clip_spec):
    from index.library import Library

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(Path(__file__).parents[1] / "demo" / "photos" / "book-beside-flowers.jpg", folder)
    data = tmp_path / "data"
    data.mkdir()
    write_people(data, [{"name": "Ann", "faces": [fingerprint("elsewhere")]}, {"name": 5}])
    with Library(data, clip=tiny_clip_spec, faces=False, ocr=False, rebuild=True) as lib:
        report = lib.index(folder)
        assert report.new == 1
        note = " ".join(report.notes)
        assert 'was damaged: it has a damaged "people" list' in note, note
        assert "Readable in it: 1 people (Ann)" in note
        assert lib.catalog.person_by_name("Ann") is not None
    assert saved(data)["Ann"]["pending"] == [fingerprint("elsewhere")]
    assert len(list(data.glob("people.json.damaged-*"))) == 1


def gone_back(data: Path) -> tuple[Catalog, int, int]:
    """A catalog that went back to an older state (its write-ahead log lost) after "Tony"
    was renamed "Tony Blair": people.json holds the rename, the catalog does not."""
    catalog = Catalog(data)
    tony, ann = add_photo(catalog, "tony-1"), add_photo(catalog, "ann-1")
    roster(catalog).name_face(catalog.faces_by_id([tony])[tony]["photo_id"], "Tony")
    catalog.close()
    shutil.copy(data / "catalog.sqlite", data / "older.sqlite")
    catalog = Catalog(data)
    roster(catalog).rename("Tony", "Tony Blair")
    catalog.close()
    (data / "older.sqlite").replace(data / "catalog.sqlite")
    return Catalog(data), tony, ann


def test_people_json_ahead_of_its_catalog_is_taken_back_not_overwritten(tmp_path):
    catalog, tony, _ = gone_back(tmp_path)
    people = roster(catalog)
    ahead = people_file.path_in(tmp_path).read_bytes()
    note = people.save_file()  # an index or an edit would write the catalog's older state
    assert people_file.path_in(tmp_path).read_bytes() == ahead
    assert "holds later changes to people" in note
    report = people.restore_names()  # what the next index does first
    assert "had gone back to an older state" in report.summary()
    assert person_of(catalog, tony) == "Tony Blair" and catalog.person_by_name("Tony") is None
    people.save_file()
    assert list(saved(tmp_path)) == ["Tony Blair"]
    catalog.close()


def test_a_people_edit_on_a_catalog_gone_back_keeps_the_newer_names(tmp_path):
    catalog, tony, ann = gone_back(tmp_path)
    roster(catalog).name_face(catalog.faces_by_id([ann])[ann]["photo_id"], "Ann")
    assert sorted(saved(tmp_path)) == ["Ann", "Tony Blair"]
    assert person_of(catalog, tony) == "Tony Blair"
    catalog.close()
