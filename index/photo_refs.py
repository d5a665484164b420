"""Finding a library photo from what a user typed (a path, a relative path, a unique file
name or an id), and the files cached for it (its thumbnail, its clip's playable copy)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from index import layout, motion, scan
from index.catalog import Catalog, path_text
from index.errors import NotFound
from index.explain import date_note
from index.person_names import person_label
from index.types import Photo

log = logging.getLogger(__name__)


def resolve_photo(catalog: Catalog, ref: str | Path) -> Photo:
    """A photo of the library from a path (absolute or relative) or a unique file name."""
    # path_text: a name that is not valid UTF-8 is looked up as the catalog writes it.
    shown = path_text(ref)
    text = path_text(os.path.realpath(ref)) if os.path.exists(ref) else shown
    row = catalog.photo_by_path(text)
    if row is not None and row["status"] == "ok":
        return row
    matches = catalog.find_photos(shown.lstrip("./"))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"{shown} is not a photo in this library (see `python app.py stats`).")
    names = ", ".join(m["path"] for m in matches[:5])
    raise NotFound(f"{shown} matches several photos ({names}); give more of the path.")


def photo_by_ref(catalog: Catalog, ref: str | Path | int) -> Photo:
    """A photo by catalog id (an int) or as `resolve_photo` finds it."""
    if isinstance(ref, int):
        photo = catalog.photo(ref)
        if photo is None or photo["status"] != "ok":
            raise NotFound(f"There is no photo {ref} in this library.")
        return photo
    return resolve_photo(catalog, ref)


def is_library_photo(catalog: Catalog, ref: str | Path) -> bool:
    """Whether `ref` names a photo of the library (rather than some other file)."""
    try:
        resolve_photo(catalog, ref)
    except NotFound:
        return False
    return True


def thumbnail(data_dir: Path, row: Photo) -> str | None:
    """The cached thumbnail file of a photo, if there is one."""
    if not row.get("hash"):
        return None
    path = layout.thumbnail_path(data_dir, row["hash"])
    return str(path) if path.exists() else None


def clip_kind(row: Photo, companions: list[dict]) -> str | None:
    """The photo's clip: "video" (it is one), "live" (a Live Photo's MOV beside it),
    "motion" (an MP4 inside the file) or None."""
    if row.get("kind") == "video":
        return "video"
    if any(c["role"] == "live" for c in companions):
        return "live"
    return "motion" if row.get("clip_start") is not None else None


def photo_clip(catalog: Catalog, photo_id: int, max_side: int) -> str | None:
    """A file a browser plays for a catalogued photo's clip (see `playable_clip`), or None."""
    row = catalog.photo(int(photo_id))
    if row is None or row["status"] != "ok":
        return None
    return playable_clip(catalog.data_dir, row, catalog.companions(row["id"]), max_side)


def playable_clip(data_dir: Path, row: Photo, companions: list[dict], max_side: int) -> str | None:
    """The photo's clip as a file a browser plays (H.264 MP4 in the data dir, made on first
    use from the embedded MP4 or the Live Photo's MOV); None when it has no clip or the clip
    cannot be read."""
    kind = clip_kind(row, companions)
    if kind is None or not row.get("hash"):
        return None
    original = os.fsdecode(row["path_raw"])
    if kind == "video" and motion.browser_plays(original):
        return original
    dest = layout.clip_path(data_dir, row["hash"])
    if dest.exists():
        return str(dest)
    try:
        if kind == "live":
            source: bytes | str = next(c["path"] for c in companions if c["role"] == "live")
        elif kind == "video":
            source = original
        else:
            data = scan.read_bytes(os.fsdecode(row["path_raw"]))
            source = data[row["clip_start"] : row["clip_end"]]
        motion.write_playable(source, dest, max_side)
    except (scan.Unreadable, OSError, ValueError) as err:
        log.warning("The clip of %s cannot be played: %s", row["path"], err)
        return None
    return str(dest)


def photo_info(catalog: Catalog, photo_id: int) -> dict:
    """One photo's details for a larger view: path, thumbnail, date, place, people, size,
    words, companion files (a RAW, a Live Photo's clip) and the kind of clip it has."""
    row = catalog.photo(int(photo_id))
    if row is None or row["status"] != "ok":
        raise NotFound(f"There is no photo {photo_id} in this library.")
    faces = catalog.faces_in_photos([row["id"]])
    companions = catalog.companions(row["id"])
    people = [
        {
            "name": f["person_name"] or person_label(f["person_id"]),
            "person_id": f["person_id"],
            "face_id": f["id"],
            "index": i,
            "box": f["box"],
        }
        for i, f in enumerate(faces, start=1)
        if f["person_id"] is not None
    ]
    return {
        "id": row["id"],
        "path": row["path"],
        "thumbnail": thumbnail(catalog.data_dir, row),
        "taken_at": row["taken_at"],
        "taken_source": row["taken_source"],
        "date_note": date_note(row["taken_at"], row["taken_source"]),
        "place": row["place"],
        "people": people,
        "faces": len(faces),
        "width": row["width"],
        "height": row["height"],
        "words": [line["text"] for line in catalog.text_lines([row["id"]]).get(row["id"], [])],
        "companions": companions,
        "clip": clip_kind(row, companions),
    }
