"""Files the server and a command both rewrite from the catalog (people.json, the FAISS
index) end up as the newest state, whichever process writes last."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from index import people_file, people_snapshot, storage
from index.vectors import VectorStore, normalise


class NamedPeople:
    """A catalog's people as save_after_change reads them (a double: no faces needed)."""

    def __init__(self, data_dir: Path, names: list[str]):
        self.data_dir, self.names = data_dir, names

    def named_people(self) -> list[dict]:
        return [
            {"id": i, "name": n, "created_at": 0.0, "changes": 0} for i, n in enumerate(self.names)
        ]

    def aliases(self) -> dict:
        return {}

    def named_faces(self, person_ids=None) -> list[dict]:
        return [
            {
                "person_id": i,
                "name": n,
                "photo_hash": f"h{n}",
                "box": (0, 0, 9, 9),
                "source": "user",
            }
            for i, n in enumerate(self.names)
            if person_ids is None or i in person_ids
        ]

    def named_rejections(self, person_ids=None) -> list[dict]:
        return []

    def meta(self, key: str) -> str | None:
        return {"catalog_id": "one-catalog"}.get(key)

    @contextmanager
    def transaction(self):
        yield


def names_in(data: Path) -> list[str]:
    return [p["name"] for p in json.loads((data / "people.json").read_text())["people"]]


def test_people_json_is_written_under_a_lock_with_the_state_read_inside_it(tmp_path):
    catalog = NamedPeople(tmp_path, ["Ann"])
    people_snapshot.save_after_change(catalog)
    path = people_file.path_in(tmp_path)
    writer = threading.Thread(target=people_snapshot.save_after_change, args=(catalog,))
    with storage.exclusive(path):  # another process is writing its snapshot
        catalog.names = ["Ann", "Bob"]
        writer.start()
        writer.join(timeout=1)
        assert writer.is_alive(), "people.json was written while another process held it"
        assert names_in(tmp_path) == ["Ann"]
        catalog.names = ["Ann", "Bob", "Cy"]  # committed before the waiting writer reads
    writer.join(timeout=10)
    assert names_in(tmp_path) == ["Ann", "Bob", "Cy"]


def test_a_faiss_index_written_by_another_process_is_not_taken_for_this_sidecars(tmp_path):
    rng = np.random.default_rng(0)
    ids = np.arange(50, dtype=np.int64)
    old = normalise(rng.standard_normal((50, 16)).astype(np.float32))
    new = normalise(rng.standard_normal((50, 16)).astype(np.float32))
    VectorStore(tmp_path, "images").ensure(7, "m", 50, lambda: (ids, old))
    sidecar = (tmp_path / "images.json").read_bytes()
    VectorStore(tmp_path, "images").ensure(8, "m", 50, lambda: (ids, new))
    # Interleaved saves: this process's sidecar (generation 7) over the other's index.
    (tmp_path / "images.json").write_bytes(sidecar)
    asked = []
    store = VectorStore(tmp_path, "images")
    store.ensure(7, "m", 50, lambda: asked.append(1) or (ids, old))
    assert asked == [1], "an index that is not the sidecar's was loaded"
    assert store.search(old[3], 1)[0][0] == 3


def test_a_disk_io_error_on_a_full_disk_is_named_disk_full(tmp_path, monkeypatch):
    import shutil
    import sqlite3
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _folder: usage(100, 100, 0))
    message = str(
        storage.write_failed(
            tmp_path / "catalog.sqlite", sqlite3.OperationalError("disk I/O error")
        )
    )
    assert "the disk is full (0 bytes free)" in message and "writable" not in message


def test_a_disk_io_error_with_space_left_is_not_called_full(tmp_path):
    import sqlite3

    message = str(storage.write_failed(tmp_path / "x", sqlite3.OperationalError("disk I/O error")))
    assert "disk is full" not in message and "disk I/O error" in message


def test_faces_waiting_for_their_photo_stay_with_a_person_who_is_renamed(tmp_path):
    catalog = NamedPeople(tmp_path, ["Ann"])
    catalog.faces_of_hashes = lambda hashes: {}  # their photos are not indexed again yet
    people_snapshot.save_after_change(catalog)
    doc = json.loads((tmp_path / "people.json").read_text())
    waiting = {"photo": "not-indexed-yet", "box": [1.0, 2.0, 30.0, 40.0]}
    doc["people"][0]["pending"] = [waiting]
    (tmp_path / "people.json").write_text(json.dumps(doc))
    catalog.names = ["Annabel"]  # the same person (id 0), renamed before the next index
    people_snapshot.save_after_change(catalog)
    saved = json.loads((tmp_path / "people.json").read_text())["people"]
    assert [(p["name"], p.get("pending")) for p in saved] == [("Annabel", [waiting])]
