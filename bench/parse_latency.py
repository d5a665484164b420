"""Query parsing: how long the spaCy parser takes to load once, then per query.

    python bench/parse_latency.py [--rounds N]

Parses a fixed set of chat queries (people, dates, places, words in photos, descriptions)
with a parser that knows a few people and places, as the chat's does. Loading (spaCy and
the matchers, on the first parse) is timed apart from the queries that follow. The last
line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from _common import ROOT  # noqa: F401 - puts the project on the import path

from assistant.query import QueryParser

PEOPLE = {"Alice": ["Ali"], "Bob": ["Robert"], "Marie Curie": [], "Carol": []}
PLACES = ["Paris", "Colorado", "Kyoto", "Lyon"]
QUERIES = [
    "photos of Alice and Bob at the beach last summer",
    "Alice without Bob in 2019",
    "only Carol",
    "5 photos of Paris",
    "Marie Curie in her laboratory",
    "photos from 2019",
    "a dog running on the grass",
    "Alice's birthday cake",
    '"IPA"',
    "the sign that says rodeo clown",
    "Alice or Bob between 2018 and 2020",
    "Ali in Kyoto in autumn",
    "sunset over the mountains in Colorado",
    "photos of Angelina",
    "Robert at Christmas two years ago",
]


def main() -> None:
    """Time the first parse (loading included) and the per-query parse afterwards."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20, help="times each query is parsed")
    args = ap.parse_args()

    parser = QueryParser(PEOPLE, PLACES)
    start = time.perf_counter()
    parser.parse(QUERIES[0])
    load_s = time.perf_counter() - start

    times = []
    for _ in range(args.rounds):
        for text in QUERIES:
            start = time.perf_counter()
            parser.parse(text)
            times.append(time.perf_counter() - start)
    times.sort()
    p50 = statistics.median(times) * 1000
    p95 = times[int(0.95 * (len(times) - 1))] * 1000
    print(f"first parse (loads spaCy and the matchers): {load_s:.2f} s")
    print(f"then {len(times)} parses: p50 {p50:.2f} ms, p95 {p95:.2f} ms")
    figures = {
        "first_parse_s": round(load_s, 3),
        "parse_p50_ms": round(p50, 2),
        "parse_p95_ms": round(p95, 2),
        "parses": len(times),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
