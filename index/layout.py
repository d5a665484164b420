"""Where things live in a data dir: the one module that knows its folders and file names.

A data dir holds `catalog.sqlite` (index/catalog/), `images.faiss` (index/vectors.py),
`people.json` (index/people_file.py) and these caches, all keyed by content so they survive
moves and renames:

    thumbs/ab/<hash>.jpg        the thumbnail of a photo whose content hash starts "ab"
    faces/ab/<hash>_<k>.jpg     the crop of face k (from the left, 0-based) of that photo
    clips/ab/<hash>.mp4         a motion or Live Photo's clip (or a video) as H.264
    moments/ab/<hash>_<k>.jpg   the thumbnail of moment k (in time order) of a video
    encoders/<key>/             faster exports of the CLIP towers (index/models/encoders.py)
"""

from __future__ import annotations

import re
from pathlib import Path

THUMBS = "thumbs"
FACES = "faces"
CLIPS = "clips"
MOMENTS = "moments"
ENCODERS = "encoders"
# Folders of pictures (and clips) meant for the browser, and the suffix of their files.
PICTURE_CACHES = {THUMBS: "jpg", FACES: "jpg", CLIPS: "mp4", MOMENTS: "jpg"}

# thumbs/ab/<hash>.jpg, faces/ab/<hash>_<k>.jpg, clips/ab/<hash>.mp4
_CACHED_PICTURE = re.compile(r"^([0-9a-f]{32})(?:_\d+)?\.(jpg|mp4)$")


def thumbnail_path(data_dir: Path, digest: str) -> Path:
    """Where the thumbnail of content `digest` lives (keyed by content: survives moves)."""
    return Path(data_dir) / THUMBS / digest[:2] / f"{digest}.jpg"


def face_crop_path(data_dir: Path, photo_hash: str, idx: int) -> Path:
    """Where the crop of face `idx` of content `photo_hash` lives (survives moves)."""
    return Path(data_dir) / FACES / photo_hash[:2] / f"{photo_hash}_{idx}.jpg"


def clip_path(data_dir: Path, digest: str) -> Path:
    """Where the playable copy of the clip of photo content `digest` lives (motion and
    Live Photos: H.264, made on first view)."""
    return Path(data_dir) / CLIPS / digest[:2] / f"{digest}.mp4"


def moment_thumb_path(data_dir: Path, digest: str, k: int) -> Path:
    """Where the thumbnail of moment `k` of video content `digest` lives."""
    return Path(data_dir) / MOMENTS / digest[:2] / f"{digest}_{k}.jpg"


def encoder_dir(data_dir: Path) -> Path:
    """The folder of cached encoder exports (one subfolder per model and weights)."""
    return Path(data_dir) / ENCODERS


def cached_picture_hash(data_dir: Path, path: str) -> str | None:
    """The photo hash a thumbnail, face-crop or clip file belongs to; None for any other path."""
    rel = Path(path).relative_to(data_dir) if path.startswith(f"{data_dir}/") else None
    if rel is None or len(rel.parts) != 3 or rel.parts[0] not in PICTURE_CACHES:
        return None
    m = _CACHED_PICTURE.match(rel.parts[2])
    if m is None or rel.parts[1] != m.group(1)[:2] or m.group(2) != PICTURE_CACHES[rel.parts[0]]:
        return None
    if rel.parts[0] not in (FACES, MOMENTS) and "_" in rel.parts[2]:
        return None
    return m.group(1)
