"""Giving names back from a people file's fingerprints (index/people_file.py has the file).

A face found again is matched to a fingerprint by its photo's content hash and a box that
overlaps enough; the catalog's own user decisions win over the file, the file's win over the
clustering. Corrections ("not this person") come back as they were made: the face leaves
the person, or any automatic group, and the refusal is recorded, so neither the clustering
nor a later naming of its group gives it to that person again. A fingerprint whose photo is
not in the catalog (yet) is returned as pending, to be tried again at the next index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from index.boxes import box_iou
from index.errors import InvalidInput


@dataclass
class RestoreReport:
    """What a restore did: names back, faces given back, fingerprints with no face found."""

    people: list[str] = field(default_factory=list)
    faces: int = 0
    refusals: int = 0  # "not this person" corrections applied again
    unmatched: int = 0
    conflicts: int = 0  # faces the catalog's user decisions give to someone else
    pending: dict[str, list[dict]] = field(default_factory=dict)  # unmatched faces, by name
    pending_not: dict[str, list[dict]] = field(default_factory=dict)  # unmatched refusals
    bad_names: list[str] = field(default_factory=list)  # names no longer accepted as names
    notes: list[str] = field(default_factory=list)  # said before the summary (a damaged file)

    def summary(self) -> str:
        """What the index summary or `people --import` says about it."""
        names = ", ".join(self.people) if self.people else "nobody"
        extra = (
            f"; {self.unmatched} of their faces not found in this library" if self.unmatched else ""
        )
        fixes = f"; {self.refusals} 'not this person' corrections" if self.refusals else ""
        clash = f"; {self.conflicts} left as you decided them" if self.conflicts else ""
        bad = f"; not valid names, left out: {', '.join(self.bad_names)}" if self.bad_names else ""
        line = (
            f"Names restored from people.json: {names} ({self.faces} faces){fixes}{extra}"
            f"{clash}{bad}."
        )
        return " ".join([*self.notes, line] if self.people or not self.notes else self.notes)


def restore(
    catalog: Any,
    doc: dict,
    min_iou: float,
    clean: Callable[[str], str] = str.strip,
    same_catalog: bool = False,
) -> RestoreReport:
    """Give names back to the faces matching the file's fingerprints (inside the caller's
    transaction). `clean` checks each name as a name typed by the user would be.
    `same_catalog`: the file was written from this very catalog (an older state of it came
    back): its person ids still mean the same people, so a renamed person keeps their id."""
    report = RestoreReport()
    wanted = {
        f["photo"]
        for p in doc["people"]
        for f in p["faces"] + p.get("not_faces", []) + p.get("pending_not", [])
    }
    faces = catalog.faces_of_hashes(wanted)
    given: dict[int, int] = {}  # face id -> person the file gave it to
    refusals: list[tuple[int, str, dict]] = []
    for entry in doc["people"]:
        try:
            name = clean(entry["name"])
        except InvalidInput:
            report.bad_names.append(entry["name"])
            continue
        person_id = _person_for(catalog, entry, name, same_catalog)
        for alias in entry.get("aliases", []):
            try:
                alias = clean(alias)
            except InvalidInput:
                continue
            if catalog.person_by_name(alias) is None:
                catalog.add_alias(person_id, alias)
        count = 0
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
            given[face["face_id"]] = person_id
            count += 1
        for print_ in entry.get("not_faces", []) + entry.get("pending_not", []):
            refusals.append((person_id, name, print_))
        report.people.append(name)
        report.faces += count
    # Refusals last: a face the file gives to someone else stays theirs whatever the order.
    for person_id, name, print_ in refusals:
        face = _match(faces.get(print_["photo"], []), print_["box"], min_iou)
        if face is None:
            report.pending_not.setdefault(name, []).append(print_)
            continue
        elsewhere = face["person_id"] not in (None, person_id)
        if elsewhere and (face["source"] == "user" or face["face_id"] in given):
            catalog.record_rejection(face["face_id"], person_id)  # kept with whom it was given
        else:  # on that person, or in an automatic group: it leaves it, as when it was said
            catalog.reject_face(face["face_id"], person_id)
            face["person_id"], face["source"] = None, "user"
        report.refusals += 1
    catalog.delete_empty_people()
    return report


def _person_for(catalog: Any, entry: dict, name: str, same_catalog: bool) -> int:
    """The catalog's person for a file entry: by id within the same catalog (renamed since
    the state the catalog went back to; a named person only, as an unnamed group may have
    been given a freed id since), else by name or alias, else a new person."""
    if same_catalog and isinstance(entry.get("id"), int):
        person = catalog.person(entry["id"])
        other = catalog.person_by_name(name)
        named = person is not None and person["name"] is not None
        if named and (other is None or other["id"] == person["id"]):
            if person["name"] != name:
                catalog.set_person_name(person["id"], name)
            return person["id"]
    person = catalog.person_by_name(name)
    return person["id"] if person else catalog.add_person(name)


def _match(candidates: list[dict], box: list[float], min_iou: float) -> dict | None:
    """The face among `candidates` whose box overlaps `box` most, if enough."""
    best, best_iou = None, min_iou
    for face in candidates:
        overlap = box_iou(tuple(face["box"]), tuple(box))
        if overlap >= best_iou:
            best, best_iou = face, overlap
    return best
