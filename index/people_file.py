"""people.json: the names, kept safe beyond the catalog.

People are the one thing a re-index cannot recover, so after every change to them the
library also writes them to a small human-readable file beside the catalog: each named
person with their aliases and the fingerprints of the faces they were given to (the photo's
content hash + the face box), and the faces the user said were *not* them. The file is
written whole or not at all (index/people_snapshot.py writes it).

A catalog made anew (lost, damaged and moved away, deleted) gets its names back at the next
index (index/people_restore.py): faces found again are matched to the fingerprints (same
photo content, boxes that overlap) and given back to their people. Each catalog has an id of
its own (meta `catalog_id`) and counts the user's changes to people (meta `people.revision`,
committed with each change); the file records both. A file that merely lags behind its own
catalog (a crash between the two writes) never overrides the catalog; a file *ahead* of its
catalog (the catalog went back to an older state: its write-ahead log was lost) is never
overwritten by it, its names are given back instead.

This module reads the file: checked whole, or, when damaged, what can still be read of it
(each person is one line of the file, so a cut-short file loses only its last person).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index import storage
from index.errors import InvalidInput
from index.people_restore import RestoreReport, restore

__all__ = ["RestoreReport", "restore"]

FILE_NAME = "people.json"
FORMAT = "personal-image-retriever/people"
VERSION = 1
REVISION = "people.revision"  # the catalog's meta key counting the user's changes to people


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


def revision(catalog: Any) -> int:
    """How many changes the user made to this catalog's people (0 before the first)."""
    return int(catalog.meta(REVISION) or 0)


def count_change(catalog: Any, at_least: int = 0) -> None:
    """One more change to people, committed with it (inside the caller's transaction);
    `at_least`: the revision of a file whose names were just taken back."""
    catalog.set_meta(REVISION, str(max(revision(catalog) + 1, at_least)))


@dataclass
class FileState:
    """people.json as found: whole (`doc`), missing, or damaged (`problem`) with the people
    that could still be read (`salvaged`)."""

    exists: bool
    doc: dict | None = None
    problem: str | None = None
    salvaged: list[dict] = field(default_factory=list)
    catalog_id: str | None = None
    revision: int = 0

    def newer_than(self, catalog: Any) -> bool:
        """Whether the file holds later changes than its own catalog (the catalog went back)."""
        return self.catalog_id == catalog_id(catalog) and self.revision > revision(catalog)


def read_state(path: Path) -> FileState:
    """Read and check a people file; never raises for what is in it."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return FileState(exists=False)
    except OSError as err:
        return FileState(exists=True, problem=f"cannot be read ({err.strerror})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        return _damaged(text, "is not UTF-8 text")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        cut = text.lstrip().startswith("{") and not text.rstrip().endswith("}")
        why = "is cut short" if cut else f"is not valid JSON (line {err.lineno}: {err.msg})"
        return _damaged(text, why)
    problem = _problem(doc)
    if problem:
        return _damaged(text, problem)
    return FileState(
        exists=True, doc=doc, catalog_id=doc.get("catalog_id"), revision=_int(doc.get("revision"))
    )


def header(path: Path) -> tuple[str | None, int]:
    """The catalog id and revision a people file was written at, read from its first lines
    only (cheap enough for every edit); (None, 0) when they cannot be read."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return None, 0
    found = re.search(r'"catalog_id":\s*"([^"]*)"', head)
    count = re.search(r'"revision":\s*(\d+)', head)
    return (found.group(1) if found else None), int(count.group(1)) if count else 0


def keep_aside(path: Path) -> Path:
    """Copy a damaged people file to `people.json.damaged-<time>` beside it (once per
    content: the same damage found again names the copy already kept)."""
    data = Path(path).read_bytes()
    for old in sorted(Path(path).parent.glob(f"{Path(path).name}.damaged-*")):
        try:
            if old.read_bytes() == data:
                return old
        except OSError:
            continue
    stamp = time.strftime("%Y%m%d-%H%M%S")
    copy = Path(path).with_name(f"{Path(path).name}.damaged-{stamp}")
    n = 1
    while copy.exists():
        n += 1
        copy = Path(path).with_name(f"{Path(path).name}.damaged-{stamp}-{n}")
    storage.atomic_write_bytes(copy, data, durable=True)
    return copy


def damage_note(path: Path, state: FileState, copy: Path, given_back: bool) -> str:
    """What the user is told about a damaged people file: which, what, where it was kept."""
    names = [p["name"] for p in state.salvaged]
    if names:
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        read = f"Readable in it: {len(names)} people ({shown})"
        read += "; their names were given back." if given_back else "; the catalog has them."
    else:
        read = "Nothing in it could be read."
    return (
        f"{path} was damaged: it {state.problem}. It was kept unchanged as {copy}, and "
        f"people.json is written anew from the catalog. {read}"
    )


def load(path: Path) -> dict:
    """A people file, checked; `InvalidInput` naming the file and what is wrong."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInput(f"{path} cannot be read as a people file ({err}).") from err
    problem = _problem(doc)
    if problem:
        raise InvalidInput(f"{path} {problem}.")
    return doc


def pending_of(path: Path) -> dict | None:
    """The file's waiting fingerprints (faces and refusals) as a document `restore` takes;
    None when none wait."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    people = []
    for p in doc.get("people") or [] if isinstance(doc, dict) else []:
        if isinstance(p, dict) and (p.get("pending") or p.get("pending_not")):
            entry = {"name": p["name"], "faces": p.get("pending") or []}
            if p.get("pending_not"):
                entry["not_faces"] = p["pending_not"]
            people.append(entry)
    return {"people": people} if people else None


def _problem(doc: Any) -> str | None:
    """What is wrong with a parsed people file, or None when it is whole."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return f'is not a people file of this program (no "format": "{FORMAT}")'
    if not isinstance(doc.get("version"), int) or doc["version"] > VERSION:
        return (
            f"was written by a newer version of this program (people file version "
            f"{doc.get('version')}); upgrade the program to read it"
        )
    people = doc.get("people")
    if not isinstance(people, list) or not all(_valid_person(p) for p in people):
        return 'has a damaged "people" list (each person needs a name and faces)'
    return None


def _damaged(text: str, problem: str) -> FileState:
    found = re.search(r'"catalog_id":\s*"([^"]*)"', text[:4096])
    count = re.search(r'"revision":\s*(\d+)', text[:4096])
    return FileState(
        exists=True,
        problem=problem,
        salvaged=_salvage(text),
        catalog_id=found.group(1) if found else None,
        revision=int(count.group(1)) if count else 0,
    )


def _salvage(text: str) -> list[dict]:
    """Every person that can still be read anywhere in a damaged file's text: each JSON
    object with a name and faces, its unreadable fingerprints left out."""
    decoder = json.JSONDecoder()
    found: dict[str, dict] = {}
    at = text.find("{")
    while at >= 0:
        try:
            obj, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            obj, end = None, at + 1
        person = _readable_person(obj)
        if person is None:
            at = text.find("{", at + 1)
            continue
        same = found.setdefault(person["name"], {**person, "faces": [], "not_faces": []})
        same["faces"] += person["faces"]
        same["not_faces"] += person["not_faces"]
        at = text.find("{", end)
    return list(found.values())


def _readable_person(obj: Any) -> dict | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or not obj["name"]:
        return None
    if not any(isinstance(obj.get(k), list) for k in ("faces", "aliases", "not_faces")):
        return None
    person: dict = {"name": obj["name"]}
    if isinstance(obj.get("id"), int):
        person["id"] = obj["id"]
    person["aliases"] = [a for a in _list(obj.get("aliases")) if isinstance(a, str)]
    for key in ("faces", "not_faces", "pending", "pending_not"):
        prints = [f for f in _list(obj.get(key)) if _valid_print(f)]
        if prints or key in ("faces", "not_faces"):
            person[key] = prints
    return person


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _valid_print(f: Any) -> bool:
    return (
        isinstance(f, dict)
        and isinstance(f.get("photo"), str)
        and isinstance(f.get("box"), list)
        and len(f["box"]) == 4
        and all(isinstance(v, int | float) for v in f["box"])
    )


def _valid_person(entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        return False
    faces = entry.get("faces")
    return isinstance(faces, list) and all(
        _valid_print(f) for f in faces + _list(entry.get("not_faces"))
    )
