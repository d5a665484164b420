"""The faces of a video: those of its moments, one per person.

Face models cost the most in a video, so work seen before is not done again: a moment
nearly identical to the one before (less change than `video_face_still`) is not looked at;
within a shot (`videos.shots`) a face found again at the place it was, looking as it did
there (a grey 8×8 of each, less change than `video_face_keep_change`), keeps its vector:
only the detector runs on it. Shots are spread over the worker cores; the moments of one
shot go in order. The shots' threads live as long as the process (one pool per size), so
each loads its face models once, not once per video.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np
from PIL import Image

from index.boxes import box_iou
from index.settings import Settings
from index.videos import shots

LOOK_SIDE = 8  # px: the grey copy of a face region two moments are compared on
_POOLS: dict[int, ThreadPoolExecutor] = {}  # workers -> the threads shots are analysed on
_POOLS_LOCK = threading.Lock()
# (a moment's picture, the vector of a face seen before at a box or None) -> (faces, crops)
FacesOf = Callable[[Any, Callable], tuple[list, list[bytes]]]


def video_faces(
    moments: Sequence[Any], faces_of: FacesOf, settings: Settings, scale: float
) -> tuple[list, list[bytes]]:
    """(faces, crops) of a video, one per person seen, each face dated by its moment
    (`time_s`), left to right. `scale`: the video's size over its moments' pictures'."""

    def one_shot(run: list[int]) -> list[tuple[list, list[bytes]]]:
        found: list[tuple[list, list[bytes]]] = []
        before: tuple[Image.Image, list] | None = None
        for k in run:
            m = moments[k]
            if before is not None and m.change < settings.video_face_still:
                continue  # the picture before, again: its faces are already found
            known = seen_before(before, m.image, settings, scale) if before else None
            faces, crops = faces_of(m.image, known)
            before = (m.image, faces)
            found.append(([replace(f, time_s=m.time_s) for f in faces], crops))
        return found

    runs = shot_pool(settings.decode_workers).map(one_shot, shots(moments, settings))
    per_moment = [pair for run in runs for pair in run]
    return merge_faces(per_moment, settings.face_max_distance)


def shot_pool(workers: int) -> ThreadPoolExecutor:
    """The threads a video's shots are analysed on, made once per size and kept: face models
    load per thread (index/faces.py), so threads made per video would load them per video.
    Two videos analysed at once share it (their shots queue, the cores are not oversold)."""
    workers = max(1, workers)
    with _POOLS_LOCK:
        if workers not in _POOLS:
            _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="video-shots")
        return _POOLS[workers]


def seen_before(
    before: tuple[Image.Image, list], now: Image.Image, settings: Settings, scale: float
) -> Callable:
    """A box (original coordinates) -> the vector of the face of the moment before at that
    place and looking the same there, else None."""
    picture, faces = before

    def known(box: tuple) -> np.ndarray | None:
        face = max(faces, key=lambda f: box_iou(box, f.box), default=None)
        if face is None or box_iou(box, face.box) < settings.face_same_box:
            return None
        change = float(np.abs(_look(picture, face.box, scale) - _look(now, box, scale)).mean())
        return face.vector if change / 255 < settings.video_face_keep_change else None

    return known


def _look(picture: Image.Image, box: tuple, scale: float) -> np.ndarray:
    """A face region (box in original coordinates) as a small grey array."""
    region = tuple(round(v / scale) for v in box)
    small = picture.crop(region).convert("L").resize((LOOK_SIDE, LOOK_SIDE))
    return np.asarray(small, dtype=np.float32)


def merge_faces(
    per_moment: list[tuple[list, list[bytes]]], max_distance: float
) -> tuple[list, list[bytes]]:
    """One face per person seen in a video: the (faces, crops) of all its moments, faces
    closer than `max_distance` taken as one (the clearest kept), so the rule "two faces in
    one photo are never one person" holds for a video too. Left to right."""
    found: list[tuple[Any, bytes]] = []
    for faces, crops in per_moment:
        for face, crop in zip(faces, crops, strict=True):
            same = next(
                (
                    i
                    for i, (kept, _c) in enumerate(found)
                    if float(np.linalg.norm(np.asarray(kept.vector) - np.asarray(face.vector)))
                    <= max_distance
                ),
                None,
            )
            if same is None:
                found.append((face, crop))
            elif face.score > found[same][0].score:
                found[same] = (face, crop)
    found.sort(key=lambda fc: (fc[0].box[0] + fc[0].box[2]) / 2)
    return [f for f, _c in found], [c for _f, c in found]
