"""Faces and people, evaluated as a user would meet them: name once, then search.

    python bench/faces_eval.py [--photos DIR] [--out FILE]   (DIR: the evaluation face
    photos, by default $PIR_EVAL_DIR/faces, see bench/_common.py; FILE: where the JSON goes,
    by default bench/results/faces_eval.json, or faces_eval_second_look.json with
    PIR_FACE_SECOND_LOOK=1; PIR_FACE_FINER_BELOW=0 turns the finer look in crowds off)


Copies the photos into one flat folder with neutral names (the tool never sees folder
names), indexes them, names one photo per person the way a user would, then asks for
each person's photos. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, eval_dir

from index.clustering import FaceSet, assign_new_faces, cluster_all
from index.library import Library
from index.settings import Settings
from index.types import Query

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def spoken(folder: str) -> str:
    """A person's folder name as a name a user could give ("df_person_03" -> "df person
    zero three"): names are letters, spaces, apostrophes, hyphens and periods."""
    words = folder.replace("_", " ")
    return " ".join("".join(f" {DIGITS[int(c)]} " if c.isdigit() else c for c in words).split())


def flat_copy(src: Path, dst: Path) -> dict[str, str]:
    """Copy every photo to dst/img_NNNN.ext; returns neutral name -> 'folder/file'."""
    truth = {}
    files = sorted(p for p in src.rglob("*") if p.suffix.lower() in SUFFIXES)
    order = np.random.default_rng(0).permutation(len(files))
    for n, i in enumerate(order):
        p = files[i]
        name = f"img_{n:04d}{p.suffix.lower()}"
        shutil.copy(p, dst / name)
        truth[name] = str(p.relative_to(src))
    return truth


def clustering_timing(settings: Settings, n_existing=10_000, n_new_photos=100, seed=0):
    """Seconds for 100 new photos to join 10,000 faces, against re-clustering all."""
    rng = np.random.default_rng(seed)
    people = n_existing // 10
    centres = rng.normal(size=(people, 128))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def faces(n, first_photo):
        who = rng.integers(0, people, n)
        noise = rng.normal(size=(n, 128))
        noise *= 0.15 / np.linalg.norm(noise, axis=1, keepdims=True)
        return who, centres[who] + noise, first_photo + np.arange(n)

    who, vec, photos = faces(n_existing, 0)
    all_faces = FaceSet(np.arange(n_existing), photos, vec)
    full = cluster_all(all_faces, settings)
    persons = np.full(n_existing, -1)
    for k, g in enumerate(full.new_people):
        persons[list(g)] = k
    existing = FaceSet(all_faces.ids, photos, vec, persons)
    nwho, nvec, nphotos = faces(n_new_photos, n_existing)
    new = FaceSet(n_existing + np.arange(n_new_photos), nphotos, nvec)
    t = time.perf_counter()
    inc = assign_new_faces(new, existing, settings)
    t_inc = time.perf_counter() - t
    both = FaceSet.concat([FaceSet(all_faces.ids, photos, vec), new])
    t = time.perf_counter()
    cluster_all(both, settings)
    t_full2 = time.perf_counter() - t
    return {
        "incremental_s": round(t_inc, 4),
        "full_recluster_s": round(t_full2, 4),
        "joined": len(inc.joined),
        "people": len(full.new_people),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", default=str(eval_dir("faces")))
    ap.add_argument("--out", type=Path, help="the JSON file (default: bench/results/...)")
    args = ap.parse_args()
    src = Path(args.photos)
    settings = Settings.from_env()
    tmp = Path(tempfile.mkdtemp(prefix="faces_eval_"))
    flat = tmp / "photos"
    flat.mkdir()
    truth = flat_copy(src, flat)
    groups = json.loads((src / "_groups" / "groups.json").read_text())
    lib = Library(tmp / "data", settings=settings)
    t = time.perf_counter()
    lib.index(flat)
    t_index = time.perf_counter() - t
    n_faces = lib.catalog.counts()["faces"]
    people_truth: dict[str, set[str]] = {}
    for name, rel in truth.items():
        folder, file = rel.split("/", 1)
        if not folder.startswith("_"):
            people_truth.setdefault(folder, set()).add(name)
        elif folder == "_groups":
            for person in groups.get(file, []):
                people_truth.setdefault(person, set()).add(name)
    # The user names one photo per person: the first of that person's own folder.
    actions = 0
    for person in sorted(people_truth):
        first = sorted(n for n in people_truth[person] if truth[n].startswith(person + "/"))[0]
        faces = lib.people.photo_faces(first)
        biggest = max(faces, key=lambda f: f.box[2] - f.box[0]).index
        # Folder names such as "colin_powell" are not names a user types: "colin powell".
        lib.people.name_face(first, spoken(person), face=biggest if len(faces) > 1 else None)
        actions += 1
    rows, tp_all, fp_all, fn_all = [], 0, 0, 0
    hits_by_person = {}
    for person, want in sorted(people_truth.items()):
        name = spoken(person)
        res = lib.search(Query(raw=f"photos of {name}", people_all=(name,), limit=1000))
        got = {Path(h.path).name for h in res.hits}
        hits_by_person[person] = got
        tp, fp, fn = len(got & want), len(got - want), len(want - got)
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
        p = tp / max(1, tp + fp)
        r = tp / max(1, tp + fn)
        rows.append(
            (
                person,
                p,
                r,
                2 * p * r / max(1e-9, p + r),
                sorted(truth[n] for n in got - want),
                sorted(truth[n] for n in want - got),
            )
        )
    for person, p, r, f1, fps, fns in rows:
        print(
            f"{person:16s} P={p:.3f} R={r:.3f} F1={f1:.3f}"
            + (f" FP={fps}" if fps else "")
            + (f" FN={fns}" if fns else "")
        )
    P = tp_all / max(1, tp_all + fp_all)
    R = tp_all / max(1, tp_all + fn_all)
    F1 = 2 * P * R / max(1e-9, P + R)
    nofaces = {n for n, rel in truth.items() if rel.startswith("_nofaces/")}
    false_hits = sorted(truth[n] for got in hits_by_person.values() for n in got & nofaces)
    nofaces_faces = sum(len(lib.people.photo_faces(n)) for n in nofaces)
    by_folder: dict[str, int] = {}  # faces found, by evaluation folder (people's pooled)
    by_photo: dict[str, int] = {}  # ... and in each photo of the folders without a person
    for name, rel in truth.items():
        folder = rel.split("/", 1)[0]
        key = folder if folder.startswith("_") else "people folders"
        found = len(lib.people.photo_faces(name))
        by_folder[key] = by_folder.get(key, 0) + found
        if folder.startswith("_"):
            by_photo[rel] = found
    group_rows = {}
    for file, people in groups.items():
        name = next(n for n, rel in truth.items() if rel == f"_groups/{file}")
        names = tuple(spoken(p) for p in people)
        res = lib.search(Query(raw=" and ".join(names), people_all=names, limit=1000))
        got = {Path(h.path).name for h in res.hits}
        group_rows[file] = {"people": people, "found": name in got, "hits": len(got)}
    print("groups:", json.dumps(group_rows))
    timing = clustering_timing(settings)
    print("clustering 100 new photos into 10,000 faces:", timing)
    out = {
        "f1": round(F1, 4),
        "precision": round(P, 4),
        "recall": round(R, 4),
        "naming_actions": actions,
        "people": len(people_truth),
        "false_person_hits_nofaces": len(false_hits),
        "false_faces_nofaces": nofaces_faces,
        "faces": n_faces,
        "faces_by_folder": dict(sorted(by_folder.items())),
        "faces_by_photo": dict(sorted(by_photo.items())),
        "finer_look_below": settings.face_finer_below,
        "finer_look_min_size": settings.face_finer_min_size,
        "second_look": settings.face_second_look,
        "photos": len(truth),
        "index_s": round(t_index, 2),
        "faces_per_s": round(n_faces / t_index, 2),
        "photos_per_s": round(len(truth) / t_index, 2),
        "groups_found": sum(g["found"] for g in group_rows.values()),
        "groups": len(group_rows),
        **{f"cluster_{k}": v for k, v in timing.items()},
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    name = "faces_eval_second_look.json" if settings.face_second_look else "faces_eval.json"
    dest = args.out or RESULTS / name
    dest.write_text(json.dumps(out) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
