"""Search latency, memory and recall at 10k / 100k / 1M photos, on synthetic data.

For each N: clustered, normalised 512-d vectors (so neighbours exist, as in a real library)
and a matching synthetic catalog (photos with dates and places, faces assigned to people),
searched through the real `Searcher`: SQL filters, the vector store, the tail cut and the
hits with their reasons. Measured:

- p50/p95 of a whole search, without and with a people filter, with the query vector
  already known (text encoding excluded) and with a fresh text encoded each time by the real
  ViT-B-32 text tower (random weights: the same compute, no meaning);
- the store's resident memory (RSS growth when loading the saved index) per photo;
- recall@10 of the store against exact search, and the latency of both (ANN / exact).

    python bench/search_latency.py --n 10000 100000 1000000

The last line printed is one JSON object keyed by N.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import _common  # noqa: F401 - puts the project on the import path
import numpy as np
import psutil

from index.library import Library  # noqa: E402
from index.search import Searcher, TextVectors, load_templates  # noqa: E402
from index.settings import Settings  # noqa: E402
from index.types import Query  # noqa: E402
from index.vectors import VectorStore, normalise  # noqa: E402

DIM = 512
PEOPLE = 50
PLACES = [
    "Paris, France",
    "Lyon, France",
    "Berlin, Germany",
    "Rome, Italy",
    "Austin, United States",
]
WORDS = ["dog", "cat", "beach", "mountain", "snow", "city", "night", "lake", "forest", "sunset"]


def clustered(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(library vectors, 200 query vectors): topics of ~200 photos grouped under themes, plus
    a shared component, so similarities spread as CLIP's do and neighbours are not trivial;
    each query aims at one topic (its best photos stand ~5 std devs above the rest)."""
    rng = np.random.default_rng(seed)
    topics = max(16, n // 200)
    common = normalise(rng.standard_normal((1, DIM)).astype(np.float32))[0]
    themes = normalise(rng.standard_normal((max(4, topics // 50), DIM)).astype(np.float32))
    noise = normalise(rng.standard_normal((topics, DIM)).astype(np.float32))
    centres = normalise(themes[rng.integers(0, len(themes), topics)] + 0.8 * noise)
    out = np.empty((n, DIM), np.float32)
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        jitter = rng.standard_normal((e - s, DIM)).astype(np.float32) / np.sqrt(DIM)
        out[s:e] = normalise(centres[rng.integers(0, topics, e - s)] + 1.2 * jitter + 0.8 * common)
    jitter = rng.standard_normal((200, DIM)).astype(np.float32) / np.sqrt(DIM)
    queries = normalise(centres[rng.integers(0, topics, 200)] + 1.5 * jitter + 0.5 * common)
    return out, queries


def fill_catalog(lib: Library, n: int, seed: int = 0) -> list[str]:
    """n photos (dates 2005-2024, 30% with a place), 40% with 1-3 faces, 70% of faces
    assigned to one of PEOPLE people (Zipf-like: a few people are in many photos)."""
    rng = np.random.default_rng(seed)
    cat = lib.catalog
    with cat.transaction():
        people = [cat.add_person(f"Person{i:02d}") for i in range(PEOPLE)]
    weights = 1.0 / np.arange(1, PEOPLE + 1)
    weights /= weights.sum()
    days = rng.integers(0, 20 * 365, n)
    base = np.datetime64("2005-01-01T00:00:00")
    for start in range(0, n, 50_000):
        end = min(n, start + 50_000)
        with cat.transaction():
            for i in range(start, end):
                path = f"/bench/{i // 1000:04d}/{i:07d}.jpg"
                place = PLACES[i % len(PLACES)] if rng.random() < 0.3 else None
                taken = str(base + np.timedelta64(int(days[i]) * 86400 + i % 86400, "s"))
                pid = cat.upsert_photo(
                    {"path": path, "path_raw": path.encode(), "size": 1, "mtime_ns": 1,
                     "width": 4000, "height": 3000, "taken_at": taken, "place": place,
                     "taken_source": "exif", "status": "ok"}
                )  # fmt: skip
                assert pid == i + 1  # vector ids below are photo ids
                if rng.random() >= 0.4:
                    continue
                k = int(rng.integers(1, 4))
                x = np.sort(rng.uniform(0, 3600, k))
                faces = [
                    {"box": (float(x[j]), 1000.0, float(x[j]) + 300.0, 1300.0), "landmarks": [],
                     "score": float(rng.uniform(0.9, 1.0)), "vector": np.zeros(4, np.float32)}
                    for j in range(k)
                ]  # fmt: skip
                ids = cat.put_faces(pid, "dlib", faces)
                who = rng.choice(PEOPLE, size=k, replace=False, p=weights)
                assigned = [
                    (fid, people[w], float(rng.uniform(0.1, 0.5)))
                    for fid, w in zip(ids, who, strict=True)
                    if rng.random() < 0.7
                ]
                cat.assign_faces(assigned, "auto")
    return [f"Person{i:02d}" for i in range(PEOPLE)]


class RealTextCost:
    """Pays the real text tower's cost for each new text, then returns the synthetic vector:
    the encoder's output of random weights means nothing, the synthetic vector keeps the
    ranking, tail cut and hits realistic."""

    def __init__(self, encode: TextVectors, vectors: dict[str, np.ndarray]):
        self.encode, self.vectors = encode, vectors

    def __call__(self, text: str) -> np.ndarray:
        self.encode(text)
        return self.vectors[text]


def timed(fn, items) -> np.ndarray:
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t) * 1000)
    return np.array(out)


def pct(ms: np.ndarray) -> dict[str, float]:
    return {
        "p50": round(float(np.percentile(ms, 50)), 2),
        "p95": round(float(np.percentile(ms, 95)), 2),
    }


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def not_rebuilt() -> tuple[np.ndarray, np.ndarray]:
    raise RuntimeError("the saved index should have loaded")


def loaded_rss(data: Path, n: int) -> float:
    """MB of RSS a fresh process gains by loading the saved store and searching once
    (a fresh process: this one's freed pages would hide the growth)."""
    out = subprocess.run(
        [sys.executable, __file__, "--rss-of", str(data), str(n)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def print_rss_of(data: Path, n: int) -> None:
    """The child side of `loaded_rss`."""
    import faiss  # noqa: F401  (the library's own size is not the index's)

    settings = Settings.from_env()
    query = normalise(np.ones((1, DIM), np.float32))[0]
    before = rss_mb()
    store = VectorStore(data, "images", settings)
    store.ensure(1, "bench", n, not_rebuilt)
    store.search(query, 10)
    store.background(query)  # the z-score sample is part of what a search holds
    print(rss_mb() - before)


def run(n: int, clip_spec: str, workdir: Path, settings: Settings) -> dict:
    """All measurements for one library size."""
    print(f"--- N={n:,}", flush=True)
    t0 = time.perf_counter()
    vecs, queries = clustered(n)
    ids = np.arange(1, n + 1, dtype=np.int64)
    data = workdir / f"n{n}"
    lib = Library(data, clip=clip_spec, settings=settings, faces=False)
    names = fill_catalog(lib, n)
    print(f"synthetic data + catalog: {time.perf_counter() - t0:.0f} s", flush=True)

    t0 = time.perf_counter()
    built = VectorStore(data, "images", settings)
    built.build(ids, vecs, 1, "bench")
    built.save()
    build_s = time.perf_counter() - t0
    index_type = built.index_type
    del built
    print(f"built {index_type} in {build_s:.0f} s", flush=True)

    rss = loaded_rss(data, n)
    store = VectorStore(data, "images", settings)
    store.ensure(1, "bench", n, not_rebuilt)

    # ANN against exact: ground truth and single-query latency of the exact store.
    exact = VectorStore(data, "exact", settings.override(ivf_threshold=n))
    exact.build(ids, vecs, 1, "bench")
    del vecs
    gc.collect()
    _, truth = exact.index.search(queries, 10)
    found = np.stack([np.pad(store.search(q, 10)[0], (0, 10))[:10] for q in queries])
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)]))
    exact_ms = timed(partial(exact.search, k=10), queries[:30])
    ann_ms = timed(partial(store.search, k=10), queries[:100])
    exact = None  # free the float32 copy before the searches below
    gc.collect()

    # Whole searches through the Searcher: the query vector known, then with text encoding.
    texts = [
        f"{WORDS[i % len(WORDS)]} and {WORDS[(i * 7 + 3) % len(WORDS)]} {i}" for i in range(200)
    ]
    by_text = dict(zip(texts, queries, strict=True))
    # The prebuilt synthetic store is the image index (not rebuilt from SQLite).
    searcher = Searcher(lib.catalog, lambda: store, by_text.__getitem__, settings, "bench")
    rng = np.random.default_rng(1)
    who = [names[int(i)] for i in rng.integers(0, 10, 200)]  # the ten most photographed
    plain = timed(lambda t: searcher.search(Query(text=t)), texts)
    people = timed(
        lambda i: searcher.search(Query(text=texts[i], people_all=(who[i],))), range(100)
    )
    people_only = timed(lambda i: searcher.search(Query(people_all=(who[i],))), range(100, 150))
    hits = np.mean([len(searcher.search(Query(text=t)).hits) for t in texts[:50]])

    encoder = TextVectors(lib.clip, load_templates(), settings.text_cache_size)
    encoder("warm up")
    with_text = Searcher(
        lib.catalog, lambda: store, RealTextCost(encoder, by_text), settings, "bench"
    )
    text_ms = timed(lambda t: with_text.search(Query(text=t)), texts[100:140])
    text_people_ms = timed(
        lambda i: with_text.search(Query(text=texts[i], people_all=(who[i],))), range(140, 170)
    )
    lib.close()

    result = {
        "p50_ms": pct(plain)["p50"],
        "p95_ms": pct(plain)["p95"],
        "p95_ms_with_text": pct(text_ms)["p95"],
        "p50_ms_with_text": pct(text_ms)["p50"],
        "p95_ms_people_filter": pct(people)["p95"],
        "p95_ms_people_filter_with_text": pct(text_people_ms)["p95"],
        "p95_ms_people_no_text": pct(people_only)["p95"],
        "recall_at_10": round(recall, 4),
        "rss_mb": round(rss, 1),
        "bytes_per_photo": round(rss * 2**20 / n),
        "index_type": index_type,
        "ann_p50_ms": pct(ann_ms)["p50"],
        "exact_p50_ms": pct(exact_ms)["p50"],
        "ann_over_exact_latency": round(pct(ann_ms)["p50"] / max(pct(exact_ms)["p50"], 1e-6), 4),
        "mean_hits": round(float(hits), 1),
        "build_s": round(build_s, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews timings
    }
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--rss-of", nargs=2, metavar=("DATA", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_of:
        return print_rss_of(Path(args.rss_of[0]), int(args.rss_of[1]))

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = Settings.from_env()
    results = {}
    with tempfile.TemporaryDirectory(prefix="pir-bench-") as tmp:
        from index.random_clip import save_random_vit_b_32

        spec = save_random_vit_b_32(Path(tmp) / "vit-b-32")
        for n in args.n:
            results[str(n)] = run(n, spec, Path(tmp), settings)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
