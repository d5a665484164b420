"""The finer look in crowds: which photos it runs on, the faces it adds, and its CPU cost.

    python bench/finer_look.py [--photos DIR ...] [--out FILE]
    (DIR, repeatable: by default the evaluation face photos and the 120 COCO photos,
    $PIR_EVAL_DIR/faces and $PIR_EVAL_DIR/captions/images; FILE: by default
    bench/results/finer_look.json)

Each photo is searched as indexing searches it (a copy no longer than face_detect_size, one
torch thread, as the indexer's face workers run): the first look (`FaceAnalyzer.detect`),
then the finer look (`FaceAnalyzer.finer_look`), each timed in CPU seconds of this process
(`time.process_time()`: what a photo costs, whatever else shares the cores). Per folder:
photos, photos the finer look ran on, faces of each look, CPU ms per photo of each; and
every photo it added faces to. `_nofaces/` must stay at 0. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from _common import RESULTS, eval_dir
from PIL import Image, ImageOps

from index.faces import FaceAnalyzer
from index.settings import Settings

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def cpu_timed(fn):
    """fn()'s result and the CPU seconds it took."""
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def detector_copy(path: Path, side: int) -> tuple[Image.Image, float]:
    """The photo upright, no longer than `side`, and original size / copy size."""
    with Image.open(path) as im:
        photo = ImageOps.exif_transpose(im).convert("RGB")
    k = max(1.0, max(photo.size) / side)
    size = (round(photo.width / k), round(photo.height / k))
    return (photo.resize(size, Image.Resampling.BILINEAR) if k > 1 else photo), k


def looks(folder: Path, analyzer: FaceAnalyzer) -> tuple[dict, list]:
    """Both looks over every photo under `folder`, by subfolder: counts, CPU ms per photo,
    and the photos that gained faces."""
    rows: dict[str, dict] = {}
    gained = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES):
        small, k = detector_copy(path, analyzer.settings.face_detect_size)
        first, s1 = cpu_timed(lambda small=small, k=k: analyzer.detect(small, k))
        extra, s2 = cpu_timed(lambda s=small, k=k, f=first: analyzer.finer_look(s, k, f))
        ran = analyzer.looks_finer(first, k)
        name = path.parent.name if path.parent != folder else folder.name
        row = rows.setdefault(
            name, {"photos": 0, "finer_ran": 0, "first": 0, "added": 0, "s_first": 0.0,
                   "s_finer": 0.0}
        )  # fmt: skip
        row["photos"] += 1
        row["finer_ran"] += int(ran)
        row["first"] += len(first)
        row["added"] += len(extra)
        row["s_first"] += s1
        row["s_finer"] += s2
        if extra:
            rel = str(path.relative_to(folder))
            sides = [round(min(c.box[2] - c.box[0], c.box[3] - c.box[1]) * k) for c in extra]
            gained.append({"photo": rel, "first": len(first), "added": len(extra), "sides": sides})
            print(f"  {rel}: {len(first)} + {len(extra)} faces (sides {sides} px)", flush=True)
    for row in rows.values():
        n = row["photos"]
        row["cpu_ms_first"] = round(row.pop("s_first") / n * 1000, 1)
        row["cpu_ms_finer"] = round(row.pop("s_finer") / n * 1000, 2)
    return rows, gained


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, action="append")
    ap.add_argument("--out", type=Path, default=RESULTS / "finer_look.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    settings = Settings.from_env()
    analyzer = FaceAnalyzer(settings)
    analyzer.detect(Image.new("RGB", (64, 64)))  # models loaded before timing
    figures: dict = {"finer_below": settings.face_finer_below,
                     "finer_min_size": settings.face_finer_min_size}  # fmt: skip
    for folder in args.photos or [eval_dir("faces"), eval_dir("captions/images")]:
        print(f"{folder}:", flush=True)
        rows, gained = looks(folder, analyzer)
        n = sum(r["photos"] for r in rows.values())
        first_ms = sum(r["cpu_ms_first"] * r["photos"] for r in rows.values()) / n
        finer_ms = sum(r["cpu_ms_finer"] * r["photos"] for r in rows.values()) / n
        figures[folder.name] = {
            "photos": n,
            "finer_ran": sum(r["finer_ran"] for r in rows.values()),
            "faces_first": sum(r["first"] for r in rows.values()),
            "faces_added": sum(r["added"] for r in rows.values()),
            "cpu_ms_per_photo_first": round(first_ms, 1),
            "cpu_ms_per_photo_finer": round(finer_ms, 2),
            "finer_over_first": round(finer_ms / first_ms, 3),
            "gained": gained,
            "by_folder": rows,
        }
    figures["load_avg_1m"] = round(os.getloadavg()[0], 2)
    args.out.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
