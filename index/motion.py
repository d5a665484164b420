"""Clips that belong to a still: the MP4 inside a Google or Samsung "motion photo", and the
MOV an iPhone saves beside a Live Photo's HEIC or JPEG (paired by the walk, index/scan.py).

A motion photo is one file: the still, then an MP4. Where the MP4 starts is said by the
XMP (Google's Container directory, or the older MicroVideoOffset), by Samsung's
`MotionPhoto_Data` marker in a JPEG, or by the `mpvd` box of a Samsung HEIC.
"""

from __future__ import annotations

import io
import os
import re
import struct
from fractions import Fraction
from pathlib import Path

from index import storage

CONTAINER_ITEM = re.compile(rb"<Container:Item\b[^>]*>", re.S)
ATTRIBUTE = re.compile(rb'Item:(\w+)="([^"]*)"')
MICRO_VIDEO_OFFSET = re.compile(rb'MicroVideoOffset(?:="|>)(\d+)')
SAMSUNG_MARKER = b"MotionPhoto_Data"


def embedded_clip(data: bytes) -> tuple[int, int] | None:
    """(start, end) byte offsets of the MP4 inside a motion photo; None for a plain still."""
    for start, end in _candidates(data):
        if 0 < start < end <= len(data) and data[start + 4 : start + 8] == b"ftyp":
            return start, end
    return None


def _candidates(data: bytes):
    """Where the clip may start and end, most reliable first (each is checked for an MP4)."""
    size = len(data)
    xmp = _xmp_part(data)
    for element in CONTAINER_ITEM.findall(xmp):
        item = dict(ATTRIBUTE.findall(element))
        if item.get(b"Semantic") == b"MotionPhoto" and item.get(b"Length", b"").isdigit():
            length = int(item[b"Length"])
            padding = int(item[b"Padding"]) if item.get(b"Padding", b"").isdigit() else 0
            yield size - length, size - padding if padding < length else size
            yield size - length, size
    found = MICRO_VIDEO_OFFSET.search(xmp)
    if found:
        yield size - int(found.group(1)), size
    marker = data.rfind(SAMSUNG_MARKER)
    if marker >= 0:
        yield marker + len(SAMSUNG_MARKER), size
    box = _heif_box(data, b"mpvd")
    if box is not None:
        yield box


def _xmp_part(data: bytes) -> bytes | memoryview:
    """Where a motion photo's XMP can be: a JPEG's segments before its picture data (the XMP
    packet, extended XMP included, is an APP1 segment there), else the whole file. Searching
    only the header spares a regex pass over every MB of a camera JPEG's picture data."""
    if data[:2] != b"\xff\xd8":
        return data
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the picture data follows
            return memoryview(data)[:pos]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return data  # not laid out as expected: search it all


def _heif_box(data: bytes, kind: bytes) -> tuple[int, int] | None:
    """The payload (start, end) of a top-level box of an ISO media file (HEIC), if present."""
    if data[4:8] != b"ftyp":
        return None
    pos = 0
    while pos + 8 <= len(data):
        size, typ = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1 and pos + 16 <= len(data):
            size, header = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = len(data) - pos
        if size < header:
            return None  # damaged: stop rather than loop
        if typ == kind:
            return pos + header, min(pos + size, len(data))
        pos += size
    return None


def write_playable(source: bytes | str, dest: Path, max_side: int) -> None:
    """A clip every browser plays: H.264 in MP4, at most `max_side` px, no sound (a motion
    photo's or Live Photo's clip is often HEVC, which most browsers refuse). `source` is the
    clip's bytes or a path; written whole or not at all (`storage.atomic_write`)."""
    import av

    def encode(tmp: Path) -> None:
        with av.open(io.BytesIO(source) if isinstance(source, bytes) else source) as inp:
            stream = inp.streams.video[0]
            rate = Fraction(stream.average_rate or 30).limit_denominator(1001)
            with av.open(str(tmp), "w", format="mp4") as out:
                enc = out.add_stream("libx264", rate=rate)
                enc.pix_fmt = "yuv420p"
                enc.options = {"preset": "veryfast", "crf": "26"}
                for n, frame in enumerate(inp.decode(stream)):
                    # Phones store portrait clips sideways with a rotation to show them by.
                    turn = round(getattr(frame, "rotation", 0) or 0) % 360
                    upright = (frame.height, frame.width) if turn in (90, 270) else None
                    if n == 0:
                        enc.width, enc.height = fit(
                            *(upright or (frame.width, frame.height)), max_side
                        )
                    if turn:
                        small = frame.reformat(
                            width=enc.height if upright else enc.width,
                            height=enc.width if upright else enc.height,
                        )
                        frame = av.VideoFrame.from_image(small.to_image().rotate(turn, expand=True))
                    small = frame.reformat(width=enc.width, height=enc.height, format="yuv420p")
                    small.pts, small.time_base = n, 1 / rate  # frames numbered at the clip's rate
                    out.mux(enc.encode(small))
                out.mux(enc.encode())

    try:
        storage.atomic_write(dest, encode)
    except av.error.FFmpegError as err:
        raise ValueError(f"not a video FFmpeg can read ({err})") from err
    except (IndexError, StopIteration) as err:
        raise ValueError("the clip holds no video") from err


BROWSER_CODECS = frozenset({"h264", "vp8", "vp9", "av1"})
BROWSER_CONTAINERS = frozenset({".mp4", ".m4v", ".webm"})


def browser_plays(path: str) -> bool:
    """Whether browsers play this video file as it is (H.264/VP9/AV1 in MP4 or WebM)."""
    import av

    if os.path.splitext(path)[1].lower() not in BROWSER_CONTAINERS:
        return False
    try:
        with av.open(path) as container:
            return container.streams.video[0].codec_context.name in BROWSER_CODECS
    except (av.error.FFmpegError, OSError, IndexError):
        return False


def fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    """A size within `max_side` keeping the shape, in even numbers (H.264 needs them)."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)
