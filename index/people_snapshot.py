"""Writing people.json (index/people_file.py says what it holds): the catalog's people as
the file's document, written whole or not at all (temp file, fsync, rename) under an flock
shared with the other processes of the data dir.

Before it replaces the file it makes sure nothing is lost by doing so: a damaged file is
first kept aside (`people.json.damaged-<time>`), and a file holding later changes than the
catalog (the catalog went back to an older state) is not replaced at all.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from index import people_file, storage
from index.errors import WriteFailed

log = logging.getLogger(__name__)
Box = tuple[float, float, float, float]


def snapshot(catalog: Any) -> dict:
    """The people of a catalog as the file's document."""
    aliases = catalog.aliases()
    people: dict[str, dict] = {}
    for person in catalog.people_summary():
        if person["name"]:
            people[person["name"]] = {
                "id": person["id"],  # within this catalog: keeps waiting faces across renames
                "name": person["name"],
                "aliases": aliases.get(person["id"], []),
                "faces": [],
                "not_faces": [],
            }
    for face in catalog.named_faces():
        entry = people.get(face["name"])
        if entry is not None:
            entry["faces"].append(
                {"photo": face["photo_hash"], "box": _box(face["box"]), "by": face["source"]}
            )
    for face in catalog.named_rejections():
        entry = people.get(face["name"])
        if entry is not None:
            entry["not_faces"].append({"photo": face["photo_hash"], "box": _box(face["box"])})
    return {
        "format": people_file.FORMAT,
        "version": people_file.VERSION,
        "catalog_id": people_file.catalog_id(catalog),
        "revision": people_file.revision(catalog),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "people": sorted(people.values(), key=lambda p: p["name"].lower()),
    }


def dump(doc: dict) -> str:
    """The document as text: the header indented, one line per person. Python's indenting
    encoder is pure Python, ten times slower than the one-line one: with 10,000 named faces
    it alone took ~0.4 s of every people edit."""
    head = json.dumps({k: v for k, v in doc.items() if k != "people"}, ensure_ascii=False, indent=1)
    people = ",\n  ".join(json.dumps(p, ensure_ascii=False) for p in doc.get("people", []))
    return f'{head[:-2]},\n "people": [\n  {people}\n ]\n}}\n'


def export(catalog: Any, path: Path) -> None:
    """Write the catalog's people to `path`, atomically and durably (`WriteFailed` if not)."""
    text = dump(snapshot(catalog))
    storage.atomic_write_bytes(Path(path), text.encode("utf-8"), durable=True)


def save_after_change(
    catalog: Any,
    pending: dict[str, list[dict]] | None = None,
    pending_not: dict[str, list[dict]] | None = None,
) -> str | None:
    """Bring the catalog's people.json up to date after a change to people (skipped when
    the people did not change). The catalog has already committed: a failed write says so.
    Returns what the user should hear about the file found there (damaged, kept aside;
    newer than the catalog, left alone), else None.

    `pending`, `pending_not`: fingerprints of faces and of refusals a restore found no face
    for yet (a folder not indexed again yet), by name; kept in the file and tried again at
    each index until their photo is back.
    """
    path = people_file.path_in(catalog.data_dir)
    try:
        # The server and a command may both have just changed people: the snapshot is taken
        # under the lock, so the last file written is the newest catalog state, never older.
        with storage.exclusive(path):
            return _write_snapshot(catalog, path, pending or {}, pending_not or {})
    except WriteFailed as err:
        raise WriteFailed(
            f"The change is saved in the catalog, but its safe copy was not. {err} The copy "
            "is written again at the next change or index."
        ) from err


def _write_snapshot(
    catalog: Any, path: Path, pending: dict[str, list[dict]], pending_not: dict[str, list[dict]]
) -> str | None:
    state = people_file.read_state(path)
    note = None
    if state.problem:  # never replaced before it is kept aside
        note = people_file.damage_note(path, state, people_file.keep_aside(path), False)
        log.warning(note)
    elif state.newer_than(catalog):
        note = (
            f"{path} holds later changes to people (revision {state.revision}) than the "
            f"catalog (revision {people_file.revision(catalog)}): it was left as it is. Run "
            "`python app.py index FOLDER` to take its names back into the catalog."
        )
        log.warning(note)
        return note
    doc = snapshot(catalog)
    old = state.doc
    _carry_pending(catalog, doc, old, {"pending": pending, "pending_not": pending_not})
    same = old is not None and {**old, "saved_at": None} == {**doc, "saved_at": None}
    if same:
        return note
    if not doc["people"] and not state.exists:
        return note  # nobody named yet: no file to keep
    storage.atomic_write_bytes(path, dump(doc).encode("utf-8"), durable=True)
    return note


def _carry_pending(
    catalog: Any, doc: dict, old: dict | None, given: dict[str, dict[str, list[dict]]]
) -> None:
    """Keep waiting fingerprints (faces: "pending"; refusals: "pending_not") in the new
    document, for people still there, until their photo is in the catalog (then they were
    matched, or the face is truly gone). A person is followed by id within one catalog (a
    rename keeps their waiting faces), else by name."""
    same = old is not None and old.get("catalog_id") == doc["catalog_id"]
    carried: dict[str, tuple[dict[str, list[dict]], dict[int, list[dict]]]] = {}
    for key in ("pending", "pending_not"):
        by_name = {k: list(v) for k, v in given[key].items()}
        by_id: dict[int, list[dict]] = {}
        for entry in (old or {}).get("people") or []:
            if isinstance(entry.get(key), list):
                if same and isinstance(entry.get("id"), int):
                    by_id.setdefault(entry["id"], []).extend(entry[key])
                else:
                    by_name.setdefault(str(entry.get("name")), []).extend(entry[key])
        if by_name or by_id:
            carried[key] = (by_name, by_id)
    if not carried:
        return
    every = [f for n, i in carried.values() for v in (*n.values(), *i.values()) for f in v]
    known = set(catalog.faces_of_hashes({f["photo"] for f in every}))
    for key, (by_name, by_id) in carried.items():
        for entry in doc["people"]:
            mine = by_name.get(entry["name"], []) + by_id.get(entry.get("id"), [])
            waiting = [f for f in mine if f["photo"] not in known]
            if waiting:
                entry[key] = list({json.dumps(f, sort_keys=True): f for f in waiting}.values())


def _box(box: Box) -> list[float]:
    return [round(float(v), 1) for v in box]
