"""Videos: what the container says (duration, creation date, GPS) and the moments sampled
from them (a frame every `video_sample_s` seconds and at each scene change), each moment
later given a CLIP vector, its faces and a thumbnail, so a search finds the moment.

Decoding is the cost: where the video's keyframes are close enough together, only
keyframes are decoded (FFmpeg skips every other frame); otherwise every frame is decoded
and only the sampled ones are converted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from index import capture_dates, layout, scan
from index.folding import fold
from index.settings import Settings

READ_CHUNK = 1 << 20
ISO6709 = re.compile(r"^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)")
# px: the colour copy two frames are compared on for a scene change (colour, not grey: two
# scenes alike in brightness but not in colour measured under the threshold in grey)
SCENE_SIDE = 16
KEYFRAME_SHARE = 0.8  # of the keyframes a steady one-per-half-interval rate would give


@dataclass
class Moment:
    """One sampled frame: when it is, and its picture (RGB, upright, reduced)."""

    time_s: float
    image: Image.Image
    change: float = 1.0  # how much it differs from the moment before (0-1; 1: the first)
    look: np.ndarray | None = None  # its RGB SCENE_SIDE² copy, what `change` compares


@dataclass
class VideoRead:
    """A video read once: its poster (as a `scan.Decoded`, with the container's date and
    place), its length, and its sampled moments in time order."""

    decoded: scan.Decoded
    duration_s: float
    moments: list[Moment] = field(default_factory=list)
    keyframes_only: bool = True


def file_digest(path: str) -> str:
    """The content hash of a file read in pieces (equal to `scan.file_hash` of its bytes)."""
    h = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as f:
            while chunk := f.read(READ_CHUNK):
                h.update(chunk)
    except FileNotFoundError as err:
        raise scan.Vanished("the file disappeared while indexing") from err
    except OSError as err:
        raise scan.Unreadable(f"cannot read the file: {err.strerror or err}") from err
    return h.hexdigest()


def read_video(source: str | Any, settings: Settings, digest: str, size: int) -> VideoRead:
    """Open a video (a path or a file object) and sample its moments at `size` px; the
    returned `decoded` is its poster, its moments in `frames` (what the stages work on)."""
    import av

    try:
        with av.open(source) as container:
            if not container.streams.video:
                raise scan.Unreadable("a file without a video stream")
            stream = container.streams.video[0]
            duration = _duration(container, stream)
            taken_at, lat, lon = container_facts(container.metadata)
            moments, keyframes_only = _sample(container, stream, settings, size, duration)
    except scan.Unreadable:
        raise
    except av.error.FFmpegError as err:
        raise scan.Unreadable(f"a video FFmpeg cannot read ({err})") from err
    except (OSError, ValueError) as err:
        raise scan.Unreadable(f"corrupt or truncated video ({err})") from err
    if not moments:
        raise scan.Unreadable("a video without a single readable frame")
    poster = _poster(moments)
    width, height = _upright_size(stream, moments[0].image)
    decoded = scan.Decoded(
        hash=digest,
        width=width,
        height=height,
        taken_at=taken_at,
        taken_source="exif" if taken_at else "file",
        lat=lat,
        lon=lon,
        place=scan.place_name(lat, lon),
        image=poster.image,
        scale=max(width, height) / max(poster.image.size),
        kind="video",
        duration_s=duration,
        frames=moments,
    )
    return VideoRead(decoded, duration, moments, keyframes_only)


def container_facts(meta: dict[str, str]) -> tuple[str | None, float | None, float | None]:
    """(capture time as local ISO, latitude, longitude) from a container's metadata: Apple's
    local creation date first, else the UTC `creation_time` turned to this machine's time."""
    taken = None
    apple = meta.get("com.apple.quicktime.creationdate")
    if apple:
        taken = _parse_time(apple, local=True)
    if taken is None and meta.get("creation_time"):
        taken = _parse_time(meta["creation_time"], local=False)
    if taken is not None and not capture_dates.plausible(taken):
        taken = None
    lat = lon = None
    place = meta.get("com.apple.quicktime.location.ISO6709") or meta.get("location") or ""
    found = ISO6709.match(place.strip())
    if found:
        lat, lon = float(found.group(1)), float(found.group(2))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
            lat = lon = None
    return (taken.isoformat() if taken else None), lat, lon


def _parse_time(text: str, local: bool) -> datetime | None:
    """A container date: with `local`, the wall-clock time it states; else its UTC instant
    in this machine's time zone (photos are dated by the wall clock)."""
    text = text.strip().replace("Z", "+00:00")
    text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text)  # +0200 -> +02:00
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is not None and not local:
        when = when.astimezone()
    return when.replace(tzinfo=None, microsecond=0)


def _duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return float(container.duration or 0) / 1_000_000


def _sample(container, stream, settings: Settings, size: int, duration: float):
    """The moments: keyframes where they are dense enough, else every decoded frame, kept
    every `video_sample_s` seconds and at scene changes."""
    interval = max(settings.video_sample_s, duration / settings.video_max_moments)
    stream.thread_type = "AUTO"
    stream.codec_context.skip_frame = "NONKEY"
    keyframes: list[float] = []
    moments = _keep(container.decode(stream), settings, size, interval, keyframes)
    # Dense enough: at least two keyframes per sampling interval (phones: one a second).
    if duration <= 0 or len(keyframes) * interval >= 2 * duration * KEYFRAME_SHARE:
        return moments, True
    # Keyframes too sparse (a long GOP): decode everything, convert only what is kept.
    container.seek(0)
    stream.codec_context.skip_frame = "DEFAULT"
    return _keep(container.decode(stream), settings, size, interval), False


def _keep(
    frames, settings: Settings, size: int, interval: float, seen: list[float] | None = None
) -> list[Moment]:
    """The frames worth keeping as moments: one per `interval`, and each scene change."""
    kept: list[Moment] = []
    last_t, last_look = None, None
    for frame in frames:
        if frame.time is None:
            continue
        t = float(frame.time)
        if seen is not None:
            seen.append(t)
        due = last_t is None or t - last_t >= interval - 1e-6
        if not due and t - last_t < settings.video_scene_min_gap_s:
            continue
        look = np.asarray(
            frame.reformat(width=SCENE_SIDE, height=SCENE_SIDE, format="rgb24").to_ndarray(),
            dtype=np.float32,
        )
        change = 1.0 if last_look is None else _differ(look, last_look)
        changed = last_look is not None and change >= settings.video_scene_change
        if due or changed:
            kept.append(Moment(round(t, 3), _picture(frame, size), change, look))
            last_t, last_look = t, look
        if len(kept) >= settings.video_max_moments and seen is None:
            break
    return kept


def _picture(frame, size: int) -> Image.Image:
    """A frame as an upright RGB picture at most `size` px long."""
    turn = round(getattr(frame, "rotation", 0) or 0) % 360
    scale = min(1.0, size / max(frame.width, frame.height))
    w, h = max(2, round(frame.width * scale)), max(2, round(frame.height * scale))
    img = frame.reformat(width=w, height=h, format="rgb24").to_image()
    return img.rotate(turn, expand=True) if turn else img


def _upright_size(stream, first: Image.Image) -> tuple[int, int]:
    w, h = stream.codec_context.width, stream.codec_context.height
    if (first.width > first.height) != (w > h) and w != h:
        w, h = h, w  # a rotated (portrait) phone video
    return w, h


def _poster(moments: list[Moment]) -> Moment:
    """The moment shown for the video as a whole: the first that is not nearly black."""
    for m in moments:
        if np.asarray(m.image.convert("L")).mean() > 25:
            return m
    return moments[0]


def shots(moments: Sequence[Any], settings: Settings) -> list[list[int]]:
    """Moment indexes in runs that share a shot: cut at each scene change, and every
    `video_shot_moments` so a long shot still spreads over the cores."""
    runs: list[list[int]] = []
    for k, m in enumerate(moments):
        cut = m.change >= settings.video_scene_change
        if not runs or cut or len(runs[-1]) >= settings.video_shot_moments:
            runs.append([])
        runs[-1].append(k)
    return runs


def distinct(moments: Sequence[Moment], min_change: float) -> list[int]:
    """The moments that each differ by `min_change` (0-1) from the last one taken (the
    first always): where words are read, so a sign seen at 0:20 is read once."""
    taken: list[int] = []
    for k, m in enumerate(moments):
        last = moments[taken[-1]].look if taken else None
        if last is None or m.look is None or _differ(last, m.look) >= min_change:
            taken.append(k)
    return taken


def _differ(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean()) / 255


def moment_thumb(data_dir: Path, row: dict, k: int) -> str | None:
    """The thumbnail file of moment `k` of a catalogued video, if it was made."""
    path = layout.moment_thumb_path(data_dir, row["hash"], k) if row.get("hash") else None
    return str(path) if path is not None and path.exists() else None


def image_index_source(catalog: Any, spec: str, backends: list[str]) -> tuple[int, Any]:
    """(how many vectors, a loader of (ids, vectors)) for the image index: every photo's
    vector and every video moment's (a video is there once per moment, under its id)."""
    count = catalog.vector_count(spec, backends) + catalog.moment_count(spec, backends)
    return count, lambda: with_moments(
        catalog.image_vectors(spec, backends), catalog.moment_vectors(spec, backends)
    )


def with_moments(
    images: tuple[np.ndarray, np.ndarray], moments: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Photo vectors and video moment vectors as one (ids, vectors) pair for the image index
    (a video's id repeats: the index finds it by its best moment)."""
    (ids, vecs), (mids, mvecs) = images, moments
    if not len(mids):
        return ids, vecs
    if not len(ids):
        return mids, mvecs
    return np.concatenate([ids, mids]), np.concatenate([vecs, mvecs])


def words_seen(lines: Sequence[dict], phrases: Sequence[str]) -> list[float | None]:
    """When (seconds) a video's lines holding one of `phrases` were read, in their order."""
    wanted = [fold(p) for p in phrases if fold(p)]
    return [ln.get("time_s") for ln in lines if any(w in fold(ln["text"]) for w in wanted)]


def shown_moment(
    times: list[float],
    vectors: np.ndarray | None,
    query: np.ndarray | None,
    seen: Sequence[float | None] = (),
) -> int:
    """The moment a hit opens at: the one most like the query vector; without one, where
    what was searched for was seen (`seen`: the times of the people's faces, then of the
    words' lines); else the first."""
    at = next((t for t in seen if t is not None), None)
    if query is None and at is not None:
        return min(range(len(times)), key=lambda k: abs(times[k] - at))
    return best_moment(times, vectors, query) if vectors is not None else 0


def best_moment(times: list[float], vectors: np.ndarray, query: np.ndarray | None) -> int:
    """The moment most like the query vector (the first moment without one)."""
    if query is None or not len(times):
        return 0
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    v = np.asarray(vectors, dtype=np.float32)
    sims = (v @ q) / (np.linalg.norm(v, axis=1) * np.linalg.norm(q) + 1e-12)
    return int(np.argmax(sims))
