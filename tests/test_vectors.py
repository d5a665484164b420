"""The FAISS vector store: saved and reloaded, rebuilt when stale or corrupt, restricted to
ids, and approximate (IVF) above a size threshold without losing recall."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.settings import Settings
from index.vectors import FLAT, VectorStore, normalise, top_k


def clustered(n: int, dim: int = 64, clusters: int = 40, seed: int = 0) -> np.ndarray:
    """Normalised vectors around random centres: neighbours exist, as in a photo library."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    points = centres[rng.integers(0, clusters, n)] + 0.8 * rng.standard_normal((n, dim))
    return normalise(points.astype(np.float32))


class Source:
    """What the catalog would hand over on a rebuild, counting how often it is asked."""

    def __init__(self, ids: np.ndarray, vecs: np.ndarray):
        self.ids, self.vecs, self.calls = ids, vecs, 0

    def __call__(self) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        return self.ids, self.vecs


@pytest.fixture
def source() -> Source:
    vecs = clustered(300)
    return Source(np.arange(300, dtype=np.int64) * 2 + 5, vecs)


def test_saved_index_is_loaded_without_asking_the_catalog(tmp_path: Path, source: Source):
    VectorStore(tmp_path, "images").ensure(3, "m", 300, source)
    assert source.calls == 1
    store = VectorStore(tmp_path, "images")
    store.ensure(3, "m", 300, source)
    assert source.calls == 1 and len(store) == 300 and store.index_type == FLAT
    ids, scores = store.search(source.vecs[10], 1)
    assert ids[0] == source.ids[10] and scores[0] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("generation, count", [(4, 300), (3, 299)])
def test_stale_index_is_rebuilt(tmp_path: Path, source: Source, generation: int, count: int):
    VectorStore(tmp_path, "images").ensure(3, "m", 300, source)
    VectorStore(tmp_path, "images").ensure(generation, "m", count, source)
    assert source.calls == 2


def test_another_model_means_a_rebuild(tmp_path: Path, source: Source):
    VectorStore(tmp_path, "images").ensure(3, "m", 300, source)
    VectorStore(tmp_path, "images").ensure(3, "other", 300, source)
    assert source.calls == 2


@pytest.mark.parametrize("damage", ["index", "sidecar"])
def test_corrupt_files_are_rebuilt_not_fatal(tmp_path: Path, source: Source, damage: str):
    VectorStore(tmp_path, "images").ensure(3, "m", 300, source)
    target = tmp_path / ("images.faiss" if damage == "index" else "images.json")
    target.write_bytes(target.read_bytes()[:40])
    store = VectorStore(tmp_path, "images")
    store.ensure(3, "m", 300, source)
    assert source.calls == 2 and len(store) == 300


@pytest.mark.parametrize("direct_max", [0, 10_000])  # through the IDSelector, or one by one
def test_restricted_search_returns_only_allowed_ids(tmp_path: Path, source: Source, direct_max):
    store = VectorStore(tmp_path, "images", Settings(search_direct_max=direct_max))
    store.build(source.ids, source.vecs, 1, "m")
    allowed = source.ids[::7]
    ids, scores = store.search(source.vecs[0], 10, allowed=list(allowed) + [999_999])
    assert set(ids) <= set(allowed) and len(ids) == 10
    exact = normalise(source.vecs[::7]) @ normalise(source.vecs[:1])[0]
    assert np.allclose(scores, np.sort(exact)[::-1][:10], atol=1e-3)  # float16 codes
    assert len(store.search(source.vecs[0], 10, allowed=[999_999])[0]) == 0


def test_large_store_switches_to_ivf_with_recall_of_exact_search(tmp_path: Path):
    n = 4000
    vecs = clustered(n, seed=1)
    ids = np.arange(n, dtype=np.int64) + 100
    settings = Settings(ivf_threshold=1000, ivf_train_sample=4000)
    store = VectorStore(tmp_path, "images", settings)
    store.ensure(1, "m", n, Source(ids, vecs))
    assert store.approximate and store.index_type.startswith("IVF")
    assert json.loads((tmp_path / "images.json").read_text())["index_type"] == store.index_type

    queries = clustered(50, seed=2)
    recall = []
    for q in queries:
        exact = set(top_k(ids, vecs @ q, 10)[0])
        recall.append(len(exact & set(store.search(q, 10)[0])) / 10)
    assert np.mean(recall) >= 0.95

    # Restricted to a small set, an approximate store still finds the set's best members.
    allowed = ids[::40]
    got = store.search(queries[0], 5, allowed=allowed)[0]
    want = top_k(allowed, vecs[::40] @ queries[0], 5)[0]
    assert set(got) <= set(allowed) and len(set(got) & set(want)) >= 4

    # Restricted to a large set (a popular person), the plain search's neighbours are
    # filtered instead: still only allowed ids, still the set's best members.
    allowed = ids[::4]
    recall = []
    for q in queries[:20]:
        got = store.search(q, 10, allowed=allowed)[0]
        assert set(got) <= set(allowed) and len(got) == 10
        recall.append(len(set(got) & set(top_k(allowed, vecs[::4] @ q, 10)[0])) / 10)
    assert np.mean(recall) >= 0.9

    reloaded = VectorStore(tmp_path, "images", settings)
    reloaded.ensure(1, "m", n, Source(ids, vecs))
    assert reloaded.index_type == store.index_type and len(reloaded) == n
    assert np.allclose(reloaded.vector(ids[5]), vecs[5], atol=0.05)  # 8-bit codes: close
    assert reloaded.vector(3) is None


def test_crossing_the_threshold_changes_the_index_type(tmp_path: Path, source: Source):
    VectorStore(tmp_path, "images").ensure(1, "m", 300, source)
    store = VectorStore(tmp_path, "images", Settings(ivf_threshold=100, ivf_train_sample=300))
    store.ensure(1, "m", 300, source)
    assert source.calls == 2 and store.approximate


def test_background_sample_is_bounded_and_deterministic(tmp_path: Path, source: Source):
    store = VectorStore(tmp_path, "images", Settings(search_background_sample=50))
    store.build(source.ids, source.vecs, 1, "m")
    first = store.background(source.vecs[0])
    assert len(first) == 50 and np.array_equal(first, store.background(source.vecs[0]))


def test_top_k_orders_best_first_and_breaks_ties_by_id():
    ids, scores = top_k(np.array([5, 3, 9, 1]), np.array([0.2, 0.9, 0.9, 0.1]), 3)
    assert ids.tolist() == [3, 9, 5] and scores.tolist() == pytest.approx([0.9, 0.9, 0.2])
