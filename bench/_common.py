"""What the benchmarks share: the project on the import path and where the evaluation photos are.

Each script does `from _common import ROOT, eval_dir` first (scripts run as
`python bench/NAME.py`, so this folder is on the path), then imports the project.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no model download can stall a measurement

RESULTS = ROOT / "bench" / "results"  # the JSON of runs the README quotes
DEFAULT_EVAL_DIR = ROOT.parent / "shared" / "eval" / "public"


def eval_dir(sub: str = "") -> Path:
    """The evaluation photos (PIR_EVAL_DIR, default ../shared/eval/public), or `sub` inside."""
    return Path(os.environ.get("PIR_EVAL_DIR") or DEFAULT_EVAL_DIR).expanduser() / sub


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (linear interpolation, as numpy's default)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def panned_video(path: Path, scenes: list, seconds: int, fps: int, size: tuple[int, int]) -> Path:
    """A real H.264 MP4 as a phone records it (a keyframe a second): each scene (a PIL image)
    held for an equal share of `seconds` and slowly panned."""
    from fractions import Fraction

    import av
    import numpy as np

    w, h = size
    per_scene = seconds * fps // len(scenes)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = fps
        stream.options = {"preset": "ultrafast"}
        n = 0
        for img in scenes:
            wide = np.asarray(img.resize((w + per_scene, h + per_scene // 2)))
            for k in range(per_scene):  # a slow pan across the scene
                view = np.ascontiguousarray(wide[k // 2 : k // 2 + h, k : k + w])
                frame = av.VideoFrame.from_ndarray(view, format="rgb24")
                frame.pts, frame.time_base = n, Fraction(1, fps)
                out.mux(stream.encode(frame))
                n += 1
        out.mux(stream.encode())
    return path
