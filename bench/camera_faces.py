"""Faces found on camera-sized copies of the evaluation face photos, against their sources.

    python bench/camera_faces.py [--photos DIR] [--min-px N ...] [--out FILE]

Each evaluation face photo (DIR: by default $PIR_EVAL_DIR/faces, `_nofaces/` included) is
searched for faces as the indexer searches it (one decode at the detector's size, then
MTCNN), and so is a 4000 px JPEG copy of it (bicubic, quality 92: the size of a 12 MP
camera photo, decoded at 1/8 as the indexer does). The copy is searched once per
`face_detect_min_px` asked (`--min-px`, default 20 and 32): how many faces each finds, on
how many photos it finds fewer than the source, how many on `_nofaces/`, and MTCNN's CPU
milliseconds per photo on one thread. Last line: one JSON object (also written to FILE).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from pathlib import Path

from _common import eval_dir
from PIL import Image, ImageOps

from index import scan
from index.faces import FaceAnalyzer
from index.settings import Settings

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
CAMERA_SIDE = 4000


def camera_copy(path: Path) -> bytes:
    """A CAMERA_SIDE px JPEG of the photo (upright), as a camera would have written it."""
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
    k = CAMERA_SIDE / max(img.size)
    buf = io.BytesIO()
    img.resize((round(img.width * k), round(img.height * k)), Image.Resampling.BICUBIC).save(
        buf, "JPEG", quality=92
    )
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=eval_dir("faces"))
    ap.add_argument("--min-px", type=int, nargs="+", default=[20, 32])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # as in the indexer's decode workers
    files = sorted(p for p in args.photos.rglob("*") if p.suffix.lower() in SUFFIXES)
    settings = Settings()
    source_finder = FaceAnalyzer(settings)
    finders = {m: FaceAnalyzer(Settings(face_detect_min_px=m)) for m in args.min_px}
    size = settings.face_detect_size
    totals = {m: {"faces": 0, "fewer": [], "nofaces": 0, "cpu_s": 0.0} for m in args.min_px}
    source_faces = source_nofaces = 0
    for f in files:
        nofaces = "_nofaces" in f.relative_to(args.photos).parts
        src = scan.decode(f.read_bytes(), settings, "", size, name=f.name)
        found = len(source_finder.detect(src.image, src.scale))
        source_faces += found
        source_nofaces += found * nofaces
        big = scan.decode(camera_copy(f), settings, "", size, name="camera.jpg")
        for m, finder in finders.items():
            cpu = time.process_time()
            got = len(finder.detect(big.image, big.scale))
            t = totals[m]
            t["cpu_s"] += time.process_time() - cpu
            t["faces"] += got
            t["nofaces"] += got * nofaces
            if got < found:
                t["fewer"].append(str(f.relative_to(args.photos)))
    figures = {
        "photos": len(files),
        "source_faces": source_faces,
        "source_faces_on_nofaces": source_nofaces,
        "camera_side": CAMERA_SIDE,
        "by_face_detect_min_px": {
            str(m): {
                "faces": t["faces"],
                "faces_on_nofaces": t["nofaces"],
                "photos_with_fewer_than_source": t["fewer"],
                "detect_cpu_ms_per_photo": round(t["cpu_s"] / len(files) * 1000, 1),
            }
            for m, t in totals.items()
        },
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
