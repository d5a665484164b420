"""Real video files the tests make themselves with PyAV (H.264 in MP4 or MOV)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image


def write_video(
    path: Path,
    scenes: Sequence[Image.Image],
    seconds_each: float = 2.0,
    fps: int = 10,
    size: tuple[int, int] = (320, 240),
    created: datetime | None = None,
    location: str | None = None,
    frame_at: Callable[[Image.Image, int], Image.Image] | None = None,
    keyframe_every_s: float | None = 1.0,
) -> Path:
    """A video showing each picture of `scenes` for `seconds_each` (a little noise per frame,
    so every frame is a real coded picture); `created` and `location` (ISO 6709,
    "+48.8584+002.2945/") go into the container's metadata as a phone writes them. A keyframe
    every `keyframe_every_s` as phones write them (None: the encoder's own, 25 s here)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "mov" if path.suffix.lower() == ".mov" else "mp4"
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", format=fmt) as out:
        if created is not None:
            out.metadata["creation_time"] = created.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        if location is not None:
            out.metadata["location"] = location
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast"}
        if keyframe_every_s is not None:
            stream.codec_context.gop_size = max(1, round(fps * keyframe_every_s))
        n = 0
        for scene in scenes:
            base = np.asarray(scene.convert("RGB").resize(size), dtype=np.int16)
            for _ in range(round(seconds_each * fps)):
                noise = rng.integers(-3, 4, base.shape, dtype=np.int16)
                img = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))
                if frame_at is not None:
                    img = frame_at(img, n)
                frame = av.VideoFrame.from_image(img)
                frame.pts, frame.time_base = n, Fraction(1, fps)
                out.mux(stream.encode(frame))
                n += 1
        out.mux(stream.encode())
    return path
