"""people.json is rewritten incrementally (only the people who changed are read again), and
the result is always the file a snapshot made from scratch would be."""

from __future__ import annotations

import threading

import numpy as np

from index import people_snapshot
from index.catalog import Catalog
from index.faces import face_model_id
from index.people import People
from index.settings import Settings

SETTINGS = Settings()


def photo_with_faces(catalog: Catalog, n: int, faces: int = 2) -> list[int]:
    rng = np.random.default_rng(n)
    with catalog.transaction():
        photo = catalog.upsert_photo(
            {"path": f"/photos/{n}.jpg", "path_raw": b"x", "size": 1, "mtime_ns": 1,
             "hash": f"hash-{n}", "status": "ok"}
        )  # fmt: skip
        return catalog.put_faces(
            photo,
            face_model_id(SETTINGS),
            [{"box": (10.0 + 100 * k, 10.0, 90.0 + 100 * k, 90.0), "landmarks": [],
              "score": 0.99, "vector": rng.standard_normal(128).astype(np.float32)}
             for k in range(faces)],
        )  # fmt: skip


def test_the_incremental_snapshot_is_the_one_made_from_scratch_after_every_kind_of_change(
    tmp_path,
):
    catalog = Catalog(tmp_path)
    people = People(catalog, SETTINGS, threading.RLock(), lambda image: [])
    faces = {n: photo_with_faces(catalog, n) for n in range(6)}
    with catalog.transaction():
        group = catalog.add_person(None)
        catalog.assign_faces([(faces[n][1], group, 0.2) for n in range(6)], source="auto")
    people.name_face(1, "Ann", face=1)
    people.name_face(2, "Bob", face=1)
    people.name_face(3, "Cy", face=1)
    with catalog.transaction():
        cy = catalog.person_by_name("Cy")["id"]
        photo_6_face = photo_with_faces(catalog, 6, faces=1)[0]
    changes = {
        "a rename": lambda: people.rename("Ann", "Anna"),
        "an alias": lambda: people.add_alias("Bob", "Robert"),
        "an alias taken back": lambda: people.remove_alias("Bob", "Robert"),
        "a group named": lambda: people.name_face(4, "Dee", face=2),
        "a refusal": lambda: people.unassign(4, "Dee"),
        "a face given by the clustering": lambda: _auto(catalog, photo_6_face, cy),
        "a merge": lambda: people.merge("Cy", "Bob"),
        "a photo's content changed": lambda: _new_hash(catalog, 2),
        "a photo gone": lambda: _remove(catalog, 1),
        "a person forgotten": lambda: people.forget("Dee"),
        "faces found again": lambda: photo_with_faces(catalog, 2, faces=1),
    }
    people_snapshot.snapshot(catalog)  # warm: what this process made of each person
    for what, change in changes.items():
        before = people_snapshot.snapshot(catalog)
        change()
        made = people_snapshot.snapshot(catalog)
        scratch = people_snapshot.snapshot(catalog, fresh=True)
        assert {**made, "saved_at": 0} == {**scratch, "saved_at": 0}, what
        assert made["people"] != before["people"], f"{what} changed nothing: a weak test"
    catalog.close()


def _auto(catalog: Catalog, face_id: int, person_id: int) -> None:
    with catalog.transaction():
        catalog.assign_faces([(face_id, person_id, 0.3)], source="auto")


def _new_hash(catalog: Catalog, photo_id: int) -> None:
    photo = dict(catalog.photo(photo_id))
    with catalog.transaction():
        catalog.upsert_photo({**photo, "hash": "edited-content"})


def _remove(catalog: Catalog, photo_id: int) -> None:
    with catalog.transaction():
        catalog.delete_photos([photo_id])
