"""What a camera RAW costs to read against a JPEG of the same size, when the RAW carries a
full-size JPEG preview (as camera RAWs do), taking turns: the decode alone, and the decode
with the content hash the indexer makes of every file (a RAW file is several times bigger).

    python bench/raw_cost.py [--out bench/results/raw_cost.json]

The RAW is a DNG this script writes (tests/raw_files.py): a 4000×3000 Bayer mosaic with a
4000×3000 JPEG preview. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from pathlib import Path

from _common import RESULTS, ROOT
from PIL import Image

from index import scan
from index.settings import Settings
from tests.raw_files import write_dng

SIZE = (4000, 3000)
ROUNDS = 8


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=RESULTS / "raw_cost.json")
    args = ap.parse_args()
    settings = Settings()
    picture = Image.open(ROOT / "demo" / "photos" / "el_torcal_rocks.jpg").convert("RGB")
    picture = picture.resize(SIZE)
    with tempfile.TemporaryDirectory() as tmp:
        raw = write_dng(Path(tmp) / "big.dng", picture, preview=picture)
        buf = io.BytesIO()
        picture.save(buf, "JPEG", quality=90)
        files = {"jpeg": (buf.getvalue(), "big.jpg"), "raw": (raw.read_bytes(), "big.dng")}
        decode = dict.fromkeys(files, 0.0)
        hashed = dict.fromkeys(files, 0.0)
        for k in range(ROUNDS):
            for name in sorted(files, reverse=bool(k % 2)):  # take turns going first
                data, file = files[name]
                start = time.perf_counter()
                digest = scan.file_hash(data)
                middle = time.perf_counter()
                scan.decode(data, settings, digest, settings.face_image_size, name=file)
                end = time.perf_counter()
                decode[name] += end - middle
                hashed[name] += end - start
    ms = {name: round(s / ROUNDS * 1000, 1) for name, s in decode.items()}
    with_hash = {name: round(s / ROUNDS * 1000, 1) for name, s in hashed.items()}
    figures = {
        "size": f"{SIZE[0]}x{SIZE[1]}",
        "jpeg_decode_ms": ms["jpeg"],
        "raw_with_preview_decode_ms": ms["raw"],
        "raw_over_jpeg_decode": round(ms["raw"] / ms["jpeg"], 2),
        "jpeg_hash_and_decode_ms": with_hash["jpeg"],
        "raw_hash_and_decode_ms": with_hash["raw"],
        "raw_over_jpeg_with_hash": round(with_hash["raw"] / with_hash["jpeg"], 2),
        "raw_file_mb": round(len(files["raw"][0]) / 1e6, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
