"""How much one people edit costs on a library with 10,000 named faces: the rename itself
and the people.json it rewrites (only the people who changed are read again; durable atomic
write of the whole file), then whole edits as the chat and the commands make them
(`People.rename`, `add_alias`, `unassign`: writer lock, transaction, people.json).

`save_reading_everything_again_ms_median`: the same save with nothing remembered (every
person and people.json read again, as every save did before schema 11), in the same run.

Run: python bench/people_edit.py [--faces 10000] [--people 100] [--repeat 20]
Writes bench/results/people_edit.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, percentile

from index import people_snapshot
from index.catalog import Catalog
from index.faces import face_model_id
from index.people import People
from index.settings import Settings


def seeded(data: Path, faces: int, people: int) -> Catalog:
    """A catalog with `faces` photos of one face each, all named, spread over `people`."""
    catalog = Catalog(data)
    rng = np.random.default_rng(0)
    with catalog.transaction():
        ids = [
            catalog.add_person(f"Person {chr(65 + i % 26)}{'a' * (i // 26)}") for i in range(people)
        ]
        for n in range(faces):
            photo = catalog.upsert_photo(
                {"path": f"/photos/{n}.jpg", "path_raw": b"x", "size": 1, "mtime_ns": 1,
                 "hash": f"{n:032x}", "status": "ok"}
            )  # fmt: skip
            face = {"box": (10, 10, 90, 90), "landmarks": [], "score": 0.99,
                    "vector": rng.standard_normal(128).astype(np.float32)}  # fmt: skip
            (face_id,) = catalog.put_faces(photo, face_model_id(Settings()), [face])
            catalog.assign_faces([(face_id, ids[n % people], 0.1)], source="user")
    return catalog


def whole_edits(catalog: Catalog, repeat: int) -> dict[str, list[float]]:
    """People edits as `app.py rename` / `unassign` and the chat make them, timed whole."""
    people = People(catalog, Settings(), threading.RLock(), lambda image: [])
    times: dict[str, list[float]] = {"people_rename": [], "people_add_alias": [],
                                     "people_unassign": []}  # fmt: skip
    for k in range(repeat):
        t0 = time.perf_counter()
        people.rename(f"Person B{'b' * k}", f"Person B{'b' * (k + 1)}")
        t1 = time.perf_counter()
        people.add_alias("Person C", f"Nick {chr(65 + k)}")
        t2 = time.perf_counter()
        people.unassign(f"/photos/{4 + 100 * k}.jpg", "Person E")
        t3 = time.perf_counter()
        for what, ms in zip(times, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            times[what].append(ms * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=10_000)
    ap.add_argument("--people", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        catalog = seeded(Path(tmp), args.faces, args.people)
        people_snapshot.save_after_change(catalog)
        person = catalog.person_by_name("Person A")["id"]
        rename_ms, save_ms, full_ms = [], [], []
        for k in range(args.repeat):
            t0 = time.perf_counter()
            with catalog.transaction():
                catalog.set_person_name(person, f"Person A{'b' * (k + 1)}")
            t1 = time.perf_counter()
            people_snapshot.save_after_change(catalog)
            t2 = time.perf_counter()
            rename_ms.append((t1 - t0) * 1000)
            save_ms.append((t2 - t1) * 1000)
        for k in range(args.repeat):  # the same save reading every person and the file again
            with catalog.transaction():
                catalog.set_person_name(person, f"Person A{'c' * (k + 1)}")
            people_snapshot.forget_memory()
            t0 = time.perf_counter()
            people_snapshot.save_after_change(catalog)
            full_ms.append((time.perf_counter() - t0) * 1000)
        edits = whole_edits(catalog, args.repeat)
        size = (Path(tmp) / "people.json").stat().st_size
        catalog.close()
    result = {
        "named_faces": args.faces,
        "people": args.people,
        "repeat": args.repeat,
        "people_json_bytes": size,
        "rename_ms_median": round(percentile(rename_ms, 50), 2),
        "save_people_json_ms_median": round(percentile(save_ms, 50), 2),
        "save_people_json_ms_p95": round(percentile(save_ms, 95), 2),
        "save_reading_everything_again_ms_median": round(percentile(full_ms, 50), 2),
        "edit_total_ms_median": round(
            percentile([a + b for a, b in zip(rename_ms, save_ms, strict=True)], 50), 2
        ),
    }
    result.update({f"{what}_ms_median": round(percentile(ms, 50), 2) for what, ms in edits.items()})
    result["whole_edit_ms_max_median"] = max(result[f"{what}_ms_median"] for what in edits)
    print(json.dumps(result, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "people_edit.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
