"""What the words reader's settings cost: the reader as it is against the reader before, in turns.

    python bench/ocr_cost.py [--photos DIR] [--rounds 2]

Both readers read every photo, taking turns photo by photo (and swapping who goes first each
round), so load from other work falls on both alike; the ratio of their times is the figure.
"Before" is detection at 1280 px with box threshold 0.5 and no Japanese decoding (the
settings before issue 18's words item). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from _common import eval_dir

from index import scan
from index.ocr import TextReader
from index.settings import Settings

BEFORE = {"ocr_detect_size": 1280, "ocr_box_threshold": 0.5, "ocr_japanese_min_kana": 10**6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=eval_dir("captions/images"))
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    settings = Settings.from_env()
    readers = {"now": TextReader(settings), "before": TextReader(settings.override(**BEFORE))}
    images = []
    for path in sorted(scan.walk(args.photos).found, key=lambda p: str(p.path)):
        decoded = scan.decode(Path(path.path).read_bytes(), settings, size=settings.ocr_image_size)
        images.append((decoded.image, decoded.scale))
    for reader in readers.values():
        reader.read(images[0][0])  # models loaded before timing
    seconds = dict.fromkeys(readers, 0.0)
    lines = dict.fromkeys(readers, 0)
    order = list(readers)
    for _ in range(args.rounds):
        for image, scale in images:
            for name in order:
                start = time.perf_counter()
                lines[name] += len(readers[name].read(image, scale))
                seconds[name] += time.perf_counter() - start
        order.reverse()
    figures = {
        "photos": len(images),
        "rounds": args.rounds,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "lines_read": lines,
        "now_over_before_time": round(seconds["now"] / seconds["before"], 3),
        "before": BEFORE,
        "now": {k: getattr(settings, k) for k in BEFORE},
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
