"""people.json: the names, kept safe beyond the catalog.

People are the one thing a re-index cannot recover, so after every change to them the
library also writes them to a small human-readable file beside the catalog: each named
person with their aliases and the fingerprints of the faces they were given to (the photo's
content hash + the face box), and the faces the user said were *not* them. The file is
written whole or not at all (temp file, fsync, rename).

A catalog made anew (lost, damaged and moved away, deleted) gets its names back at the next
index: faces found again are matched to the fingerprints (same photo content, boxes that
overlap) and given back to their people. Each catalog has an id of its own (meta
`catalog_id`); the file records the id it was written from, so a file that merely lags
behind its own catalog (a crash between the two writes) never overrides the catalog.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index import storage
from index.boxes import box_iou
from index.errors import InvalidInput, WriteFailed

FILE_NAME = "people.json"
FORMAT = "personal-image-retriever/people"
VERSION = 1
Box = tuple[float, float, float, float]


@dataclass
class RestoreReport:
    """What a restore did: names back, faces given back, fingerprints with no face found."""

    people: list[str] = field(default_factory=list)
    faces: int = 0
    unmatched: int = 0
    conflicts: int = 0  # faces the catalog's user decisions give to someone else
    pending: dict[str, list[dict]] = field(default_factory=dict)  # unmatched, by name

    def summary(self) -> str:
        """One line for the index summary or `people --import`."""
        names = ", ".join(self.people) if self.people else "nobody"
        extra = (
            f"; {self.unmatched} of their faces not found in this library" if self.unmatched else ""
        )
        clash = f"; {self.conflicts} left as you decided them" if self.conflicts else ""
        return f"Names restored from people.json: {names} ({self.faces} faces){extra}{clash}."


def path_in(data_dir: Path) -> Path:
    """Where a data dir keeps its people file."""
    return Path(data_dir) / FILE_NAME


def catalog_id(catalog: Any) -> str:
    """The catalog's own id (made at its first use), telling a new catalog from the old one."""
    value = catalog.meta("catalog_id")
    if value is None:
        value = uuid.uuid4().hex
        with catalog.transaction():
            catalog.set_meta("catalog_id", value)
    return value


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
        "format": FORMAT,
        "version": VERSION,
        "catalog_id": catalog_id(catalog),
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


def save_after_change(catalog: Any, pending: dict[str, list[dict]] | None = None) -> None:
    """Bring the catalog's people.json up to date after a change to people (skipped when
    the people did not change). The catalog has already committed: a failed write says so.

    `pending`: fingerprints a restore found no face for yet (a folder not indexed again
    yet), by name; kept in the file and tried again at each index until their photo is back.
    """
    path = path_in(catalog.data_dir)
    try:
        # The server and a command may both have just changed people: the snapshot is taken
        # under the lock, so the last file written is the newest catalog state, never older.
        with storage.exclusive(path):
            _write_snapshot(catalog, path, pending or {})
    except WriteFailed as err:
        raise WriteFailed(
            f"The change is saved in the catalog, but its safe copy was not. {err} The copy "
            "is written again at the next change or index."
        ) from err


def _write_snapshot(catalog: Any, path: Path, pending: dict[str, list[dict]]) -> None:
    doc = snapshot(catalog)
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        old = None
    _carry_pending(catalog, doc, old, pending)
    same = isinstance(old, dict) and {**old, "saved_at": None} == {**doc, "saved_at": None}
    if same:
        return
    if not doc["people"] and old is None:
        return  # nobody named yet: no file to keep
    text = dump(doc)
    storage.atomic_write_bytes(path, text.encode("utf-8"), durable=True)


def _carry_pending(catalog: Any, doc: dict, old: Any, pending: dict[str, list[dict]]) -> None:
    """Keep waiting fingerprints in the new document, for people still there, until their
    photo is in the catalog (then they were matched, or the face is truly gone). A person is
    followed by id within one catalog (a rename keeps their waiting faces), else by name."""
    by_name: dict[str, list[dict]] = {k: list(v) for k, v in pending.items()}
    by_id: dict[int, list[dict]] = {}
    same = isinstance(old, dict) and old.get("catalog_id") == doc["catalog_id"]
    if isinstance(old, dict):
        for entry in old.get("people") or []:
            if isinstance(entry, dict) and isinstance(entry.get("pending"), list):
                if same and isinstance(entry.get("id"), int):
                    by_id.setdefault(entry["id"], []).extend(entry["pending"])
                else:
                    by_name.setdefault(str(entry.get("name")), []).extend(entry["pending"])
    if not by_name and not by_id:
        return
    every = [f for v in (*by_name.values(), *by_id.values()) for f in v]
    known = set(catalog.faces_of_hashes({f["photo"] for f in every}))
    for entry in doc["people"]:
        carried = by_name.get(entry["name"], []) + by_id.get(entry.get("id"), [])
        waiting = [f for f in carried if f["photo"] not in known]
        if waiting:
            entry["pending"] = list({json.dumps(f, sort_keys=True): f for f in waiting}.values())


def pending_of(path: Path) -> dict | None:
    """The file's waiting fingerprints as a document `restore` takes; None when none wait."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    people = [
        {"name": p["name"], "faces": p["pending"]}
        for p in (doc.get("people") or [] if isinstance(doc, dict) else [])
        if isinstance(p, dict) and p.get("pending")
    ]
    return {"people": people} if people else None


def load(path: Path) -> dict:
    """A people file, checked; `InvalidInput` naming the file and what is wrong."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInput(f"{path} cannot be read as a people file ({err}).") from err
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InvalidInput(
            f'{path} is not a people file of this program (no "format": "{FORMAT}").'
        )
    if not isinstance(doc.get("version"), int) or doc["version"] > VERSION:
        raise InvalidInput(
            f"{path} was written by a newer version of this program (people file version "
            f"{doc.get('version')}); upgrade the program to read it."
        )
    people = doc.get("people")
    if not isinstance(people, list) or not all(_valid_person(p) for p in people):
        raise InvalidInput(f'{path}: its "people" list is damaged (each needs a name and faces).')
    return doc


def needs_restore(catalog: Any, path: Path) -> bool:
    """Whether the file holds names this catalog never had: it was written from another
    catalog (this one is new) and names people."""
    if not path.exists():
        return False
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False  # reported when the user imports it by hand; indexing goes on
    return (
        isinstance(doc, dict)
        and doc.get("catalog_id") != catalog_id(catalog)
        and bool(doc.get("people"))
    )


def restore(
    catalog: Any, doc: dict, min_iou: float, clean: Callable[[str], str] = str.strip
) -> RestoreReport:
    """Give names back to the faces matching the file's fingerprints (inside the caller's
    transaction). The catalog's own user decisions win over the file; the file's win over
    the clustering. `clean` checks each name as a name typed by the user would be."""
    report = RestoreReport()
    wanted = {f["photo"] for p in doc["people"] for f in p["faces"] + p.get("not_faces", [])}
    faces = catalog.faces_of_hashes(wanted)
    for entry in doc["people"]:
        name = clean(entry["name"])
        person = catalog.person_by_name(name)
        person_id = person["id"] if person else catalog.add_person(name)
        for alias in map(clean, entry.get("aliases", [])):
            if catalog.person_by_name(alias) is None:
                catalog.add_alias(person_id, alias)
        given = 0
        for print_ in entry["faces"]:
            face = _match(faces.get(print_["photo"], []), print_["box"], min_iou)
            if face is None:
                report.unmatched += 1
                report.pending.setdefault(name, []).append(print_)
                continue
            if face["source"] == "user" and face["person_id"] not in (None, person_id):
                report.conflicts += 1
                continue
            source = "user" if print_.get("by") == "user" else "auto"
            catalog.assign_faces([(face["face_id"], person_id, 0.0)], source=source)
            face["person_id"], face["source"] = person_id, source
            given += 1
        for print_ in entry.get("not_faces", []):
            face = _match(faces.get(print_["photo"], []), print_["box"], min_iou)
            if face is not None and face["person_id"] in (None, person_id):
                catalog.reject_face(face["face_id"], person_id)
        report.people.append(name)
        report.faces += given
    catalog.delete_empty_people()
    return report


def _match(candidates: list[dict], box: list[float], min_iou: float) -> dict | None:
    """The face among `candidates` whose box overlaps `box` most, if enough."""
    best, best_iou = None, min_iou
    for face in candidates:
        overlap = box_iou(tuple(face["box"]), tuple(box))
        if overlap >= best_iou:
            best, best_iou = face, overlap
    return best


def _box(box: Box) -> list[float]:
    return [round(float(v), 1) for v in box]


def _valid_person(entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        return False
    faces = entry.get("faces")
    return isinstance(faces, list) and all(
        isinstance(f, dict)
        and isinstance(f.get("photo"), str)
        and isinstance(f.get("box"), list)
        and len(f["box"]) == 4
        and all(isinstance(v, int | float) for v in f["box"])
        for f in faces + list(entry.get("not_faces", []))
    )
