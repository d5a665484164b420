"""A real library for scripted conversations: public face photos with known dates and places.

Each photo of the evaluation set is copied with an EXIF date and GPS position chosen here
(or none, so its date is the file's time), indexed with MTCNN + dlib and the tiny random
CLIP model, and every face named by the folder it came from. `TRUTH` then says, for every
person, year and place, exactly which files a right answer shows.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from photo_files import photo_exif
from PIL import Image

PARIS, DENVER, MADRID = (48.8566, 2.3522), (39.7392, -104.9903), (40.4168, -3.7038)
PLACE_WORDS = {PARIS: "Paris", DENVER: "Denver", MADRID: "Madrid"}
NAMES = {
    "angelina": "Angelina Jolie",
    "kit_harington": "Kit Harington",
    "rose_leslie": "Rose Leslie",
    "alex_lacamoire": "Alex Lacamoire",
    "colin_powell": "Colin Powell",
    "tony_blair": "Tony Blair",
}
# (folder, file, taken or None for "file time only", place or None)
PHOTOS: list[tuple[str, str, datetime | None, tuple[float, float] | None]] = [
    ("angelina", "1.jpg", datetime(2017, 7, 14, 12), PARIS),
    ("angelina", "2.jpg", datetime(2018, 8, 2, 12), PARIS),
    ("angelina", "3.jpg", datetime(2019, 7, 20, 12), MADRID),
    ("angelina", "4.jpg", datetime(2019, 12, 24, 12), None),
    ("angelina", "5.jpg", datetime(2020, 1, 5, 12), DENVER),
    ("angelina", "6.jpg", datetime(2021, 6, 1, 12), PARIS),
    ("angelina", "7.jpg", datetime(2021, 7, 4, 12), DENVER),
    ("angelina", "8.jpg", None, None),  # dated only by its file: 2022-03-03
    ("kit_harington", "1.jpg", datetime(2018, 5, 19, 12), MADRID),
    ("kit_harington", "2.jpg", datetime(2019, 7, 21, 12), MADRID),
    ("kit_harington", "3.jpg", datetime(2020, 2, 2, 12), None),
    ("rose_leslie", "1.jpg", datetime(2018, 5, 19, 13), MADRID),
    ("rose_leslie", "2.jpg", datetime(2021, 9, 9, 12), PARIS),
    ("_groups", "fr_kit_with_rose.jpg", datetime(2019, 7, 22, 12), MADRID),
    ("alex_lacamoire", "1.jpg", datetime(2016, 3, 3, 12), DENVER),
    ("alex_lacamoire", "2.jpg", datetime(2017, 4, 4, 12), None),
    ("colin_powell", "1.jpg", datetime(2017, 1, 10, 12), DENVER),
    ("colin_powell", "2.jpg", datetime(2018, 1, 10, 12), DENVER),
    ("colin_powell", "3.jpg", datetime(2019, 1, 10, 12), PARIS),
    ("tony_blair", "1.jpg", datetime(2017, 2, 2, 12), PARIS),
    ("tony_blair", "2.jpg", datetime(2019, 2, 2, 12), None),
    ("tony_blair", "3.jpg", datetime(2020, 2, 2, 12), DENVER),
    ("_nofaces", "dlib_dog.jpg", datetime(2019, 5, 5, 12), DENVER),
    ("_nofaces", "immich_el_torcal_rocks.jpg", datetime(2020, 5, 5, 12), MADRID),
]
FILE_TIME = datetime(2022, 3, 3, 9)


@dataclass
class Truth:
    """What a right answer shows: file names by person, year and place."""

    folder: Path
    people: dict[str, set[str]] = field(default_factory=dict)  # full name -> file names
    taken: dict[str, datetime] = field(default_factory=dict)
    uncertain: set[str] = field(default_factory=set)  # dated only by the file's time
    place: dict[str, str] = field(default_factory=dict)  # file -> "Paris" / "Denver" / ...

    def of(self, *names: str, year: int | None = None, place: str | None = None) -> set[str]:
        """Files showing all these people (none: every photo), in that year and place."""
        files = set(self.taken)
        for name in names:
            files &= self.people[name]
        if year is not None:
            files = {f for f in files if self.taken[f].year == year}
        if place is not None:
            files = {f for f in files if self.place.get(f) == place}
        return files

    def without(self, files: set[str], name: str) -> set[str]:
        return files - self.people[name]


def _copy(source: Path, target: Path, taken: datetime | None, gps) -> None:
    with Image.open(source) as im:
        exif = photo_exif(taken, gps)
        im.convert("RGB").save(target, "JPEG", quality=92, exif=exif)
    stamp = FILE_TIME.timestamp()
    os.utime(target, (stamp, stamp))


def build(eval_faces: Path, root: Path, clip_spec: str):
    """Copy, index and name the photos; returns (Library, Truth)."""
    from index.library import Library

    folder = root / "photos"
    folder.mkdir(parents=True)
    truth = Truth(folder)
    groups = json.loads((eval_faces / "_groups" / "groups.json").read_text())
    for person, file, taken, gps in PHOTOS:
        name = f"{person.strip('_')}_{Path(file).stem}.jpg"
        _copy(eval_faces / person / file, folder / name, taken, gps)
        truth.taken[name] = taken or FILE_TIME
        if taken is None:
            truth.uncertain.add(name)
        if gps is not None:
            truth.place[name] = PLACE_WORDS[gps]
        who = groups.get(file, []) if person == "_groups" else [person] if person in NAMES else []
        for p in who:
            truth.people.setdefault(NAMES[p], set()).add(name)
    lib = Library(root / "data", clip=clip_spec)
    lib.index(folder)
    for person, file, _taken, _gps in PHOTOS:
        name = f"{person.strip('_')}_{Path(file).stem}.jpg"
        if person in NAMES:
            lib.people.name_face(folder / name, NAMES[person])
        elif person == "_groups":
            _name_group(lib, folder / name, [NAMES[p] for p in groups[file]])
    return lib, truth


def _name_group(lib, path: Path, names: list[str]) -> None:
    """Name each face of a group photo after the person whose faces it is closest to."""
    faces = lib.people.photo_faces(path)
    assert len(faces) == len(names), (path, len(faces))
    gaps = {
        (f.index, n): lib.people.face_gap(path, n, face=f.index) or 9.0
        for f in faces
        for n in names
    }
    first, second = names
    keep = gaps[(1, first)] + gaps[(2, second)] <= gaps[(1, second)] + gaps[(2, first)]
    order = [first, second] if keep else [second, first]
    for f, name in zip(faces, order, strict=True):
        lib.people.name_face(path, name, face=f.index)


def copy_library(source_data: Path, target: Path, clip_spec: str):
    """An independent copy of the indexed library (for conversations that change people)."""
    from index.library import Library

    shutil.copytree(source_data, target)
    return Library(target, clip=clip_spec)
