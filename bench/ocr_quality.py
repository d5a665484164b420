"""Words in photos: found / expected words on the demo photos and on photos of signs.

    python bench/ocr_quality.py [--captions DIR]
        [--ppocrv4 | --detector ONNX --recognizer ONNX [--keys TXT]] [--label TEXT] [--out JSON]

The expected words were written down by a person looking at each photo. A word counts as
found when a search for it would find the photo: its folded form (index/words.py) is one of
the tokens read. Each photo is read twice, with the gate (the settings' sizes) and without
it (detection straight at `ocr_detect_size`), to show what the gate costs in words and
saves in time. `--detector/--recognizer/--keys` read with other PP-OCR model files (e.g. from
another wheel) in the same pipeline, to compare candidates on the same photos and counting.
The last line printed is one JSON object with the figures, also written to --out
(default bench/results/ocr_quality.json).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from _common import RESULTS, ROOT, eval_dir

from index import scan
from index.folding import fold
from index.ocr import OcrModels, TextReader
from index.settings import Settings

DEMO = ROOT / "demo" / "photos"
CAPTIONS = eval_dir("captions/images")

# photo -> words a person reads in it (demo photos: demo/photos; COCO: the caption set).
EXPECTED = {
    "demo/craft-beer.jpg": "main stay seasonal barrel aged weekend warrior pale ale big bright "
    "ipa hopadillo rodeo clown series session mother lager hop delusion imperial "
    "collaboration espresso radler english style barleywine beer",
    "demo/japanese-shop.jpg": "kirin 一番搾り 取扱店 営業中 classic",
    "demo/book-beside-flowers.jpg": "sevgili dost ali ural posta kutusundaki",
    "demo/cyclamen_persicum.jpg": "",
    "demo/tanners_ridge.jpg": "",
    "coco/000000231460.jpg": "potsdamer straße bülowstraße gehweg schäden istanbul grill noir",
    "coco/000000252332.jpg": "stop",
}


def found(expected: str, lines: list[dict]) -> list[str]:
    """The expected words a phrase search would find in these lines (as FTS5 matches)."""
    folded = f" {fold(' '.join(line['text'] for line in lines))} "
    return [w for w in expected.split() if f" {fold(w)} " in folded]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captions", type=Path, default=CAPTIONS)
    ap.add_argument("--detector", type=Path, help="a PP-OCR detection model (ONNX)")
    ap.add_argument("--recognizer", type=Path, help="a PP-OCR recognition model (ONNX)")
    ap.add_argument("--keys", type=Path, help="the recognizer's alphabet, one character a line")
    ap.add_argument(
        "--ppocrv4", action="store_true", help="the models before: rapidocr-onnxruntime's PP-OCRv4"
    )
    ap.add_argument("--label", default="", help="what the candidate is (kept in the JSON)")
    ap.add_argument(
        "--out", type=Path, default=RESULTS / "ocr_quality.json", help="where the JSON goes"
    )
    args = ap.parse_args()
    settings = Settings.from_env()
    models = None
    if args.detector or args.recognizer or args.ppocrv4:
        models = OcrModels(args.detector, args.recognizer, args.keys)
    gated = TextReader(settings, models)
    ungated = TextReader(settings.override(ocr_gate_size=settings.ocr_detect_size), models)
    totals = {"expected": 0, "found_gated": 0, "found_ungated": 0, "s_gated": 0.0, "s_ungated": 0.0}
    photos = {}
    for key, expected in EXPECTED.items():
        folder, name = key.split("/", 1)
        path = (DEMO if folder == "demo" else args.captions) / name
        if not path.exists():
            print(f"skipped {key}: not found at {path}")
            continue
        d = scan.decode(path.read_bytes(), settings, size=settings.ocr_image_size)
        row = {"expected": len(expected.split())}
        for label, reader in (("gated", gated), ("ungated", ungated)):
            reader.read(d.image.resize((64, 64)))  # models loaded before timing
            start = time.perf_counter()
            lines = reader.read(d.image, d.scale)
            seconds = time.perf_counter() - start
            hit = found(expected, lines)
            row[f"found_{label}"] = len(hit)
            row[f"s_{label}"] = round(seconds, 3)
            row[f"read_{label}"] = [line["text"] for line in lines][:40]
            totals[f"found_{label}"] += len(hit)
            totals[f"s_{label}"] += seconds
        totals["expected"] += row["expected"]
        photos[key] = row
        print(
            f"{key:32s} found {row['found_gated']}/{row['expected']} gated "
            f"({row['s_gated']:.2f} s), {row['found_ungated']}/{row['expected']} ungated "
            f"({row['s_ungated']:.2f} s)"
        )
    figures = {
        "reader": TextReader.model_id if models is None else "candidate",
        "label": args.label,
        "model_files": {k: v.name for k, v in vars(models or OcrModels()).items() if v},
        "expected_words": totals["expected"],
        "found_gated": totals["found_gated"],
        "found_ungated": totals["found_ungated"],
        "seconds_gated": round(totals["s_gated"], 2),
        "seconds_ungated": round(totals["s_ungated"], 2),
        "settings": {
            k: getattr(settings, k)
            for k in (
                "ocr_gate_size",
                "ocr_detect_size",
                "ocr_image_size",
                "ocr_box_threshold",
                "ocr_min_confidence",
                "ocr_japanese_min_kana",
                "ocr_runtime",
            )
        },
        "photos": photos,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    line = json.dumps(figures, ensure_ascii=False)
    args.out.write_text(line + "\n", encoding="utf-8")
    print(line)


if __name__ == "__main__":
    main()
