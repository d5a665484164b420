"""Question latency: how many, when, which years, where, who with, at 100k photos.

A synthetic catalog (bench/search_latency.py's `fill_catalog`: photos 2005-2024, 30% with
a place, 40% with 1-3 faces, 70% of faces assigned to 50 people, a few people in many
photos) answers questions through the code the chat calls (`Assistant.new_session()
.respond`), each in a new session: the words and the photos shown as evidence, end to end.
The query parser is loaded before timing (the chat loads it on its first message).

    python bench/question_latency.py [--n 100000] [--rounds 8]

The last line printed is one JSON object; --out writes it to a file as well.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from _common import percentile  # also puts the project on the import path
from search_latency import fill_catalog

from index.library import Library  # noqa: E402
from index.random_clip import save_tiny_open_clip  # noqa: E402
from index.settings import Settings  # noqa: E402

# {p}: a person (Person00 is in the most photos), {y}: a year, {c}: a place
QUESTIONS = {
    "how_many_library": "how many photos do I have?",
    "how_many_person": "how many photos of {p} do I have?",
    "how_many_person_year": "how many photos of {p} from {y}?",
    "how_many_place": "how many photos in {c}?",
    "when_last": "when did I last see {p}?",
    "when_first": "when was the first photo of {p}?",
    "which_years": "which years do I have photos of {p}?",
    "which_months": "which months do I have photos of {p} in {y}?",
    "where_person": "where have I been with {p}?",
    "who_with": "who is {p} with most?",
    "who_with_place": "who was with {p} in {c}?",
}
CITIES = ["Paris", "Lyon", "Berlin", "Rome", "Austin"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="photos in the synthetic catalog")
    ap.add_argument("--rounds", type=int, default=8, help="times each question is asked")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    args = ap.parse_args()

    from assistant.conversation import Assistant

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="pir-questions-") as tmp:
        tmp = Path(tmp)
        spec = save_tiny_open_clip(tmp / "clip")
        t0 = time.perf_counter()
        lib = Library(tmp / "data", clip=spec, settings=Settings(), faces=False)
        names = fill_catalog(lib, args.n)
        print(f"synthetic catalog of {args.n:,} photos: {time.perf_counter() - t0:.0f} s")
        assistant = Assistant(lib)
        assistant.new_session().respond("photos of Person01")  # loads the parser, warms caches

        per_kind: dict[str, list[float]] = {}
        intents: dict[str, set[str]] = {}
        for r in range(args.rounds):
            person = names[r * 5 % len(names)] if r else names[0]  # round 0: the busiest
            values = {"p": person, "y": 2006 + (r * 3) % 18, "c": CITIES[r % len(CITIES)]}
            for kind, template in QUESTIONS.items():
                text = template.format(**values)
                started = time.perf_counter()
                reply = assistant.new_session().respond(text)
                per_kind.setdefault(kind, []).append(time.perf_counter() - started)
                intents.setdefault(kind, set()).add(reply.intent)
        lib.close()
    load_after = os.getloadavg()

    every = [s for values in per_kind.values() for s in values]
    figures = {
        "photos": args.n,
        "questions": len(every),
        "p50_ms": round(percentile(every, 50) * 1000, 1),
        "p95_ms": round(percentile(every, 95) * 1000, 1),
        "max_ms": round(max(every) * 1000, 1),
        "by_kind_p95_ms": {k: round(percentile(v, 95) * 1000, 1) for k, v in per_kind.items()},
        "intents": {k: sorted(v) for k, v in intents.items()},
        "load_avg_1m_before": round(load_before[0], 2),
        "load_avg_1m_after": round(load_after[0], 2),
        "cpus": os.cpu_count(),
    }
    for kind, values in per_kind.items():
        print(
            f"  {kind:22s} p50 {percentile(values, 50) * 1000:7.1f} ms"
            f"  p95 {percentile(values, 95) * 1000:7.1f} ms"
        )
    print(f"all questions: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    line = json.dumps(figures)
    if args.out:
        args.out.write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
