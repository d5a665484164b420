"""What a camera RAW costs to index against a JPEG of the same picture and pixel size, when
the RAW carries a full-size JPEG preview (as camera RAWs do), taking turns: each file read,
hashed and decoded once at the size the stages need, as the indexer does
(`readers.read_and_decode`: read once; a big file hashed by a helper thread while its
preview decodes). Wall ms per file is what a file takes; CPU ms (every thread of the
process) is the work, which the overlap does not lessen. The read+hash and decode apart
(one after the other, `reader.digest` then `reader.decode`) are kept beside.

    python bench/raw_cost.py [--out bench/results/raw_cost.json]

The picture is a real phone photo (tests/data/formats/samsung-one-ui-6.heic, 4000×3000);
the RAW is a DNG this script writes of it (tests/raw_files.py): a 12-bit Bayer mosaic,
stored uncompressed in 16 bits as many cameras do (25 MB), with the picture as its JPEG
preview. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from _common import RESULTS, ROOT
from PIL import Image

from index import formats, readers
from index.settings import Settings
from tests.raw_files import write_dng

PHOTO = ROOT / "tests" / "data" / "formats" / "samsung-one-ui-6.heic"
SIZE = (4000, 3000)
ROUNDS = 8


def picture() -> Image.Image:
    """The phone photo, landscape, at SIZE."""
    formats.register_plugins()
    with Image.open(PHOTO) as img:
        rgb = img.convert("RGB")
    if rgb.height > rgb.width:
        rgb = rgb.transpose(Image.Transpose.ROTATE_90)
    return rgb.resize(SIZE, Image.Resampling.BICUBIC) if rgb.size != SIZE else rgb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=RESULTS / "raw_cost.json")
    args = ap.parse_args()
    settings = Settings()
    size = settings.face_image_size  # what the stages ask of a photo (faces: the most)
    scene = picture()
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "jpeg": Path(tmp) / "big.jpg",
            "raw": write_dng(Path(tmp) / "big.dng", scene, preview=scene),
        }
        scene.save(files["jpeg"], "JPEG", quality=90)
        read = dict.fromkeys(files, 0.0)
        decode = dict.fromkeys(files, 0.0)
        wall = dict.fromkeys(files, 0.0)
        cpu = dict.fromkeys(files, 0.0)
        for k in range(ROUNDS + 1):
            for name in sorted(files, reverse=bool(k % 2)):  # take turns going first
                path = str(files[name])
                reader = readers.reader_for(path)
                start = time.perf_counter()
                data, digest = reader.digest(path)
                middle = time.perf_counter()
                reader.decode(path, data, settings, digest, size)
                end = time.perf_counter()
                start_cpu = time.process_time()
                readers.read_and_decode(path, settings, size)  # as the indexer does
                if k:  # the first round warms the page cache and the decoders
                    cpu[name] += time.process_time() - start_cpu
                    wall[name] += time.perf_counter() - end
                    read[name] += middle - start
                    decode[name] += end - middle
        megabytes = {name: f.stat().st_size / 1e6 for name, f in files.items()}
        data = files["raw"].read_bytes()
        hash_mb_s = {name: 0.0 for name in ("blake2b", "sha256")}
        for k in range(ROUNDS):  # the content hash, and the fastest other on this CPU, in turns
            for name in sorted(hash_mb_s, reverse=bool(k % 2)):
                start = time.perf_counter()
                hashlib.new(name, data).digest()
                hash_mb_s[name] += time.perf_counter() - start
        hash_mb_s = {name: len(data) / 1e6 * ROUNDS / s for name, s in hash_mb_s.items()}
    ms = {name: round(read[name] / ROUNDS * 1000, 1) for name in files}
    dec = {name: round(decode[name] / ROUNDS * 1000, 1) for name in files}
    total = {name: ms[name] + dec[name] for name in files}
    per_file = {name: round(wall[name] / ROUNDS * 1000, 1) for name in files}
    cpu_ms = {name: round(cpu[name] / ROUNDS * 1000, 1) for name in files}
    figures = {
        # The headline: as the indexer reads a new file (the decode beside a big file's hash).
        "jpeg_ms": per_file["jpeg"],
        "raw_ms": per_file["raw"],
        "raw_over_jpeg": round(per_file["raw"] / per_file["jpeg"], 2),
        "jpeg_cpu_ms": cpu_ms["jpeg"],
        "raw_cpu_ms": cpu_ms["raw"],
        "raw_over_jpeg_cpu": round(cpu_ms["raw"] / cpu_ms["jpeg"], 2),
        "size": f"{SIZE[0]}x{SIZE[1]}",
        "jpeg_file_mb": round(megabytes["jpeg"], 2),
        "raw_file_mb": round(megabytes["raw"], 1),
        # The same steps one after the other (hash, then decode), as before the overlap.
        "jpeg_read_and_hash_ms": ms["jpeg"],
        "raw_read_and_hash_ms": ms["raw"],
        "jpeg_decode_ms": dec["jpeg"],
        "raw_with_preview_decode_ms": dec["raw"],
        "raw_over_jpeg_decode": round(dec["raw"] / dec["jpeg"], 2),
        "jpeg_hash_and_decode_ms": round(total["jpeg"], 1),
        "raw_hash_and_decode_ms": round(total["raw"], 1),
        "raw_over_jpeg_with_hash": round(total["raw"] / total["jpeg"], 2),
        "blake2b_mb_per_s": round(hash_mb_s["blake2b"]),
        "sha256_mb_per_s": round(hash_mb_s["sha256"]),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
