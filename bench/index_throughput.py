"""Indexing throughput: the whole pipeline against the CLIP forward pass alone, same photos.

    python bench/index_throughput.py [--photos DIR] [--large N] [--faces]

Uses the real ViT-B-32 architecture with random weights (same compute as trained ones).
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index import scan
from index.library import Library
from index.settings import Settings
from tests.tiny_models import save_random_vit_b_32

DEFAULT_PHOTOS = ROOT.parent / "shared" / "eval" / "public" / "captions" / "images"


def forward_only(lib: Library, folder: Path) -> float:
    """Photos per second through preprocess-free CLIP forward passes, batched as the indexer does."""
    import torch

    found, _ = scan.walk(folder)
    pixels = [lib.clip.preprocess(scan.open_rgb(f.path)) for f in found]
    step = lib.settings.model_batch
    lib.clip.encode_preprocessed(torch.stack(pixels[:step]))  # warm-up: first passes are slower
    start = time.perf_counter()
    for i in range(0, len(pixels), step):
        lib.clip.encode_preprocessed(torch.stack(pixels[i : i + step]))
    return len(pixels) / (time.perf_counter() - start)


def timed_index(lib: Library, folder: Path) -> tuple[float, object]:
    start = time.perf_counter()
    report = lib.index(folder)
    return time.perf_counter() - start, report


def large_copies(src: Path, dest: Path, n: int) -> Path:
    """Camera-sized (4000×3000) JPEG copies of the first n photos."""
    from PIL import Image

    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.iterdir())[:n]:
        with Image.open(f) as img:
            img.convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC).save(
                dest / f"{f.stem}_large.jpg", quality=92
            )
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument("--large", type=int, default=24, help="camera-sized photos to add (0: none)")
    ap.add_argument("--faces", action="store_true", help="also time the pipeline with faces")
    args = ap.parse_args()
    if not args.photos.is_dir():
        sys.exit(f"no photos at {args.photos}; pass --photos DIR")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = save_random_vit_b_32(tmp / "vit-b-32-random")
        lib = Library(tmp / "data", clip=spec, settings=Settings.from_env(), faces=False)
        lib.clip.load()  # model loading is not indexing
        n = len(scan.walk(args.photos)[0])

        forward = forward_only(lib, args.photos)
        seconds, report = timed_index(lib, args.photos)
        pipeline = report.embedded / seconds
        reindex_s, again = timed_index(lib, args.photos)
        print(f"{n} photos from {args.photos}")
        print(f"  forward alone : {forward:6.1f} photos/s")
        print(f"  whole pipeline: {pipeline:6.1f} photos/s  (ratio {pipeline / forward:.2f})")
        print(f"  no-change re-index: {reindex_s:.2f} s ({again.unchanged} unchanged)")
        figures = {
            "photos": n,
            "pipeline_photos_per_s": round(pipeline, 2),
            "forward_photos_per_s": round(forward, 2),
            "ratio": round(pipeline / forward, 3),
            "reindex_s": round(reindex_s, 3),
        }
        if args.large:
            big = large_copies(args.photos, tmp / "large", args.large)
            big_lib = Library(tmp / "data-large", clip=spec, faces=False)
            big_lib.clip = lib.clip
            big_forward = forward_only(big_lib, big)
            big_s, big_report = timed_index(big_lib, big)
            big_pipeline = big_report.embedded / big_s
            print(f"{args.large} camera-sized photos (4000×3000 JPEG)")
            print(f"  forward alone : {big_forward:6.1f} photos/s")
            print(
                f"  whole pipeline: {big_pipeline:6.1f} photos/s  (ratio {big_pipeline / big_forward:.2f})"
            )
            figures["large_pipeline_photos_per_s"] = round(big_pipeline, 2)
            figures["large_ratio"] = round(big_pipeline / big_forward, 3)
        if args.faces:
            face_lib = Library(tmp / "data-faces", clip=spec, faces=True)
            face_lib.clip = lib.clip
            face_s, face_report = timed_index(face_lib, args.photos)
            figures["with_faces_photos_per_s"] = round(face_report.new / face_s, 2)
            print(f"  with faces    : {figures['with_faces_photos_per_s']:6.1f} photos/s")
        figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
