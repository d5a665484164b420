"""The duplicate finder measured on a labelled set built from the evaluation photos.

    python bench/duplicates_eval.py [--out bench/results/duplicates_eval.json]

Duplicates (must be grouped with their original): for each of 40 originals, a re-encoded
copy (JPEG quality 55, EXIF dropped as messengers do), a half-size copy, a crop (10% of
the width and of the height cut away, split at random between the two edges), a small edit (brightness +12%, contrast -10%), and for 10 of them an exact
byte copy under another name. Look-alikes (must NOT be grouped): every photo of each person
in the face folders (several are near-identical passport-style portraits of one person),
and the other captioned photos, each a distinct picture; half of the look-alikes of one
person carry EXIF times an hour apart (two shots of one scene), half no time at all, so
the pixels alone must tell them apart.

Everything runs through the real product: the set is written to a folder, indexed
(CLIP is not available on this machine, so no vector can veto: the hash and the time
decide, as measured), and `Library.duplicates()` groups it. Pairwise precision and
recall against the labels; a sweep of the hash threshold shows the trade-off. Last line:
one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from _common import RESULTS, eval_dir
from PIL import Image, ImageEnhance, ImageOps

from index import duplicates
from index.library import Library
from index.settings import Settings

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
ORIGINALS = 40
EXACT_COPIES = 10
START = datetime(2020, 6, 1, 9, 0, 0)


def exif_at(when: datetime | None) -> bytes:
    """EXIF holding a DateTimeOriginal (empty bytes for none)."""
    if when is None:
        return b""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = when.strftime("%Y:%m:%d %H:%M:%S")
    return exif.tobytes()


def save(img: Image.Image, path: Path, when: datetime | None, quality: int = 92) -> None:
    img.convert("RGB").save(path, "JPEG", quality=quality, exif=exif_at(when))


def variants(img: Image.Image, rng: random.Random) -> dict[str, tuple[Image.Image, int, bool]]:
    """name -> (picture, JPEG quality, keeps its EXIF time)."""
    w, h = img.size
    # A crop taking 10% of each side's length away, split at random between the two edges.
    left, top = rng.uniform(0, 0.1), rng.uniform(0, 0.1)
    box = (round(w * left), round(h * top), round(w * (0.9 + left)), round(h * (0.9 + top)))
    edited = ImageEnhance.Contrast(ImageEnhance.Brightness(img).enhance(1.12)).enhance(0.9)
    return {
        "reencoded": (img, 55, False),
        "half": (img.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.LANCZOS), 88, True),
        "crop": (img.crop(box), 90, True),
        "edit": (edited, 90, True),
    }


def build(out: Path, rng: random.Random) -> dict[str, str]:
    """Write the labelled set into `out`; returns file name -> family (same family =
    duplicates of one picture; a family of one is a look-alike or a plain photo)."""
    captions = sorted((eval_dir("captions") / "images").glob("*.jpg"))
    faces = sorted(
        p
        for p in eval_dir("faces").glob("*/*")
        if p.suffix.lower() in SUFFIXES and not p.parent.name.startswith("_")
    )
    family: dict[str, str] = {}
    originals = rng.sample(captions, ORIGINALS)
    for k, src in enumerate(originals):
        img = ImageOps.exif_transpose(Image.open(src)).convert("RGB")
        when = START + timedelta(days=k)
        name = f"orig_{k:03d}.jpg"
        save(img, out / name, when)
        family[name] = f"f{k}"
        for vname, (pic, quality, keeps_time) in variants(img, rng).items():
            vfile = f"orig_{k:03d}_{vname}.jpg"
            save(pic, out / vfile, when if keeps_time else None, quality)
            family[vfile] = f"f{k}"
        if k < EXACT_COPIES:
            shutil.copy(out / name, out / f"copy_of_{k:03d}.jpg")
            family[f"copy_of_{k:03d}.jpg"] = f"f{k}"
    for k, src in enumerate(c for c in captions if c not in originals):
        name = f"other_{k:03d}.jpg"
        save(ImageOps.exif_transpose(Image.open(src)), out / name, START - timedelta(days=k + 1))
        family[name] = f"other{k}"
    for k, src in enumerate(faces):
        person = src.parent.name
        index = sum(1 for f in family if f.startswith(f"look_{person}_"))
        # Even photos of one person: shots an hour apart; odd ones: no stated time.
        when = START + timedelta(days=400, hours=index) if index % 2 == 0 else None
        name = f"look_{person}_{index}.jpg"
        save(ImageOps.exif_transpose(Image.open(src)), out / name, when)
        family[name] = f"look{k}"
    return family


def pairs_of(groups: list[list[str]]) -> set[tuple[str, str]]:
    return {tuple(sorted(p)) for g in groups for p in itertools.combinations(g, 2)}


def score(predicted: set, truth: set, lookalike: set) -> dict:
    hit = len(predicted & truth)
    return {
        "precision": round(hit / len(predicted), 4) if predicted else 1.0,
        "recall": round(hit / len(truth), 4) if truth else 1.0,
        "true_pairs": len(truth),
        "found_pairs": len(predicted),
        "lookalike_pairs_grouped": len(predicted & lookalike),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=RESULTS / "duplicates_eval.json")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        photos.mkdir()
        family = build(photos, rng)
        settings = Settings()
        lib = Library(Path(tmp) / "data", settings=settings, faces=False, ocr=False)
        lib.index(photos)
        started = time.perf_counter()
        groups = lib.duplicates()
        seconds = time.perf_counter() - started
        name_of = {p["id"]: Path(p["path"]).name for p in lib.catalog.looks()}
        predicted = pairs_of([[Path(m.path).name for m in g.members] for g in groups])
        by_family: dict[str, list[str]] = {}
        for name, fam in family.items():
            by_family.setdefault(fam, []).append(name)
        truth = pairs_of(list(by_family.values()))
        people: dict[str, list[str]] = {}
        for name in family:
            if name.startswith("look_"):
                people.setdefault(name.rsplit("_", 1)[0], []).append(name)
        lookalike = pairs_of(list(people.values()))
        result = {
            "photos": len(family),
            "duplicate_families": sum(1 for g in by_family.values() if len(g) > 1),
            "lookalike_pairs": len(lookalike),
            "settings": {
                "dup_phash_max_bits": settings.dup_phash_max_bits,
                "dup_max_seconds": settings.dup_max_seconds,
                "dup_same_second_bits": settings.dup_same_second_bits,
            },
            "clip_vectors": lib.stats()["vectors"],
            **score(predicted, truth, lookalike),
            "groups": len(groups),
            "exact_groups": sum(1 for g in groups if g.kind == "exact"),
            "seconds_to_group": round(seconds, 3),
            "found_with_original": _found_with_original(family, groups),
            "sweep": [],
        }
        for bits in range(4, 21, 2):
            swept = duplicates.library_groups(
                lib.catalog, settings.override(dup_phash_max_bits=bits), None
            )
            got = pairs_of([[name_of[m.photo_id] for m in g.members] for g in swept])
            result["sweep"].append({"phash_max_bits": bits, **score(got, truth, lookalike)})
        lib.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for row in result["sweep"]:
        print(
            f"hash bits <= {row['phash_max_bits']:2d}: precision {row['precision']:.3f}, "
            f"recall {row['recall']:.3f}, look-alike pairs grouped {row['lookalike_pairs_grouped']}"
        )
    print(json.dumps({k: v for k, v in result.items() if k != "sweep"}))


def _found_with_original(family: dict[str, str], groups: list) -> dict[str, float]:
    """For each kind of copy, the share grouped with its original."""
    group_of = {Path(m.path).name: n for n, g in enumerate(groups) for m in g.members}
    found: dict[str, list[bool]] = {}
    for name in family:
        if not name.startswith(("orig_", "copy_of_")) or name.count("_") < 2:
            continue
        parts = Path(name).stem.split("_")  # orig_003_crop, copy_of_003
        kind, k = ("exact copy", parts[2]) if parts[0] == "copy" else (parts[2], parts[1])
        original = f"orig_{k}.jpg"
        same = name in group_of and group_of.get(original) == group_of[name]
        found.setdefault(kind, []).append(same)
    return {kind: round(sum(v) / len(v), 3) for kind, v in sorted(found.items())}


if __name__ == "__main__":
    main()
