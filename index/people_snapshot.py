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
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index import people_file, storage
from index.errors import WriteFailed

log = logging.getLogger(__name__)
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class _Person:
    """One person as the file says them, and the catalog's state it was made from."""

    state: tuple  # (changes, name, created_at): any change to the person changes it
    entry: dict  # never changed once made: documents share it
    line: str  # the entry as the file's text


# What this process last made of each person, by (data dir, catalog id), and what it last
# read or wrote of each people.json (by the file's inode, size and time): a people edit on
# a library with 10,000 named faces re-reads only the people it changed, and not the file.
_lock = threading.Lock()
_people: dict[tuple[str, str], dict[int, _Person]] = {}
_files: dict[str, tuple[tuple[int, int, int], dict]] = {}


def forget_memory() -> None:
    """Drop what this process remembers of people and files: the next save reads every
    person and people.json again (how every save worked before; the bench compares)."""
    with _lock:
        _people.clear()
        _files.clear()


def snapshot(catalog: Any, fresh: bool = False) -> dict:
    """The people of a catalog as the file's document (`fresh`: every person read again)."""
    return _document(catalog, fresh)[0]


def _document(catalog: Any, fresh: bool = False) -> tuple[dict, list[str]]:
    """The document and each person's line of text. Only people whose state in the catalog
    (the `changes` counter SQLite's triggers keep, their name) moved are read again."""
    ident = people_file.catalog_id(catalog)
    key = (str(Path(catalog.data_dir).resolve()), ident)
    rows = {r["id"]: r for r in catalog.named_people()}
    with _lock:
        known = {} if fresh else _people.get(key, {})
        states = {i: (r["changes"], r["name"], r["created_at"]) for i, r in rows.items()}
        stale = [i for i, state in states.items() if i not in known or known[i].state != state]
        made = _entries(catalog, {i: rows[i]["name"] for i in stale}, every=len(stale) == len(rows))
        people = {i: known[i] if i not in made else _made(states[i], made[i]) for i in rows}
        _people[key] = people
    order = sorted(people.values(), key=lambda p: p.entry["name"].lower())
    doc = {
        "format": people_file.FORMAT,
        "version": people_file.VERSION,
        "catalog_id": ident,
        "revision": people_file.revision(catalog),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "people": [p.entry for p in order],
    }
    return doc, [p.line for p in order]


def _entries(catalog: Any, names: dict[int, str], every: bool) -> dict[int, dict]:
    """The file's entries of the people `names` (all named people when `every`)."""
    if not names:
        return {}
    aliases = catalog.aliases()
    entries = {
        i: {"id": i, "name": name, "aliases": aliases.get(i, []), "faces": [], "not_faces": []}
        for i, name in names.items()
    }
    ids = None if every else list(names)
    for face in catalog.named_faces(ids):
        entries[face["person_id"]]["faces"].append(
            {"photo": face["photo_hash"], "box": _box(face["box"]), "by": face["source"]}
        )
    for face in catalog.named_rejections(ids):
        entries[face["person_id"]]["not_faces"].append(
            {"photo": face["photo_hash"], "box": _box(face["box"])}
        )
    return entries


def _made(state: tuple, entry: dict) -> _Person:
    return _Person(state, entry, json.dumps(entry, ensure_ascii=False))


def dump(doc: dict, lines: list[str] | None = None) -> str:
    """The document as text: the header indented, one line per person (`lines`, when the
    caller has them already). Python's indenting encoder is pure Python, ten times slower
    than the one-line one: with 10,000 named faces it alone took ~0.4 s of every edit."""
    head = json.dumps({k: v for k, v in doc.items() if k != "people"}, ensure_ascii=False, indent=1)
    if lines is None:
        lines = [json.dumps(p, ensure_ascii=False) for p in doc.get("people", [])]
    people = ",\n  ".join(lines)
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
    state = _read(path)
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
    doc, lines = _document(catalog)
    old = state.doc
    for k in _carry_pending(catalog, doc, old, {"pending": pending, "pending_not": pending_not}):
        lines[k] = json.dumps(doc["people"][k], ensure_ascii=False)
    same = old is not None and {**old, "saved_at": None} == {**doc, "saved_at": None}
    if same:
        return note
    if not doc["people"] and not state.exists:
        return note  # nobody named yet: no file to keep
    storage.atomic_write_bytes(path, dump(doc, lines).encode("utf-8"), durable=True)
    _remember(path, doc)
    return note


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _read(path: Path) -> people_file.FileState:
    """people.json as `people_file.read_state` finds it; not read again when it is still the
    file this process last read or wrote (a new file is a new inode: writes rename)."""
    key = _stat_key(path)
    with _lock:
        seen = _files.get(str(path))
    if key is not None and seen is not None and seen[0] == key:
        doc = seen[1]
        return people_file.FileState(
            exists=True,
            doc=doc,
            catalog_id=doc.get("catalog_id"),
            revision=doc.get("revision") if isinstance(doc.get("revision"), int) else 0,
        )
    state = people_file.read_state(path)
    if state.doc is not None and key is not None:
        with _lock:
            _files[str(path)] = (key, state.doc)
    return state


def _remember(path: Path, doc: dict) -> None:
    key = _stat_key(path)
    with _lock:
        if key is None:
            _files.pop(str(path), None)
        else:
            _files[str(path)] = (key, doc)


def _carry_pending(
    catalog: Any, doc: dict, old: dict | None, given: dict[str, dict[str, list[dict]]]
) -> list[int]:
    """Keep waiting fingerprints (faces: "pending"; refusals: "pending_not") in the new
    document, for people still there, until their photo is in the catalog (then they were
    matched, or the face is truly gone). A person is followed by id within one catalog (a
    rename keeps their waiting faces), else by name. Entries that gain some are replaced by
    copies (the made ones are shared); returns their places."""
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
        return []
    every = [f for n, i in carried.values() for v in (*n.values(), *i.values()) for f in v]
    known = set(catalog.faces_of_hashes({f["photo"] for f in every}))
    changed = set()
    for key, (by_name, by_id) in carried.items():
        for k, entry in enumerate(doc["people"]):
            mine = by_name.get(entry["name"], []) + by_id.get(entry.get("id"), [])
            waiting = [f for f in mine if f["photo"] not in known]
            if waiting:
                unique = list({json.dumps(f, sort_keys=True): f for f in waiting}.values())
                doc["people"][k] = {**entry, key: unique}
                changed.add(k)
    return sorted(changed)


def _box(box: Box) -> list[float]:
    return [round(float(v), 1) for v in box]
