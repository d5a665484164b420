"""What the words reader's settings cost: the reader as it is against the reader before, in turns.

    python bench/ocr_cost.py [--photos DIR] [--rounds 2] [--against SETTING=VALUE ...]

Both readers read every photo as the words stage does (`decode_workers` photos side by side),
taking turns photo by photo, `decode_workers` photos a turn (and swapping who goes first each
round), so load from other work falls on both alike; the ratio of their times is the figure,
in seconds and in CPU seconds (all of this process's threads, while one reader reads).
"Before" is detection at 1280 px with box threshold 0.5 and no Japanese decoding (the
settings before issue 18's words item), or the settings given with `--against` (e.g.
`--against ocr_runtime=onnxruntime`: the same reader with its networks in ONNX Runtime).
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
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
    ap.add_argument(
        "--against",
        nargs="+",
        metavar="SETTING=VALUE",
        help=f"the reader before: these settings changed (default: {BEFORE})",
    )
    args = ap.parse_args()
    settings = Settings.from_env()
    before = dict(a.split("=", 1) for a in args.against) if args.against else BEFORE
    readers = {"now": TextReader(settings), "before": TextReader(settings.override(**before))}
    images = []
    for path in sorted(scan.walk(args.photos).found, key=lambda p: str(p.path)):
        decoded = scan.decode(Path(path.path).read_bytes(), settings, size=settings.ocr_image_size)
        images.append((decoded.image, decoded.scale))
    side_by_side = ThreadPoolExecutor(settings.decode_workers)
    turns = [
        images[i : i + settings.decode_workers]
        for i in range(0, len(images), settings.decode_workers)
    ]
    for reader in readers.values():  # models loaded before timing (a copy per worker)
        list(side_by_side.map(lambda photo, r=reader: r.read(photo[0]), turns[0]))
    seconds = dict.fromkeys(readers, 0.0)
    cpu = dict.fromkeys(readers, 0.0)
    lines = dict.fromkeys(readers, 0)
    order = list(readers)
    for _ in range(args.rounds):
        for turn in turns:
            for name in order:
                start, start_cpu = time.perf_counter(), time.process_time()
                read = side_by_side.map(lambda photo, r=readers[name]: r.read(*photo), turn)
                lines[name] += sum(len(found) for found in read)
                seconds[name] += time.perf_counter() - start
                cpu[name] += time.process_time() - start_cpu
        order.reverse()
    figures = {
        "photos": len(images),
        "rounds": args.rounds,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "lines_read": lines,
        "cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
        "now_over_before_time": round(seconds["now"] / seconds["before"], 3),
        "now_over_before_cpu": round(cpu["now"] / cpu["before"], 3),
        "before": before,
        "now": {k: getattr(settings, k) for k in before},
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
