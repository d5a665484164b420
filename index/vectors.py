"""FAISS stores of L2-normalised vectors keyed by catalog ids; derived data, rebuilt at will."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np


class VectorStore:
    """An inner-product FAISS index saved as `<name>.faiss` + `<name>.json` in the data dir.

    The JSON sidecar records the catalog generation, model and count it was built from;
    any mismatch (or an unreadable file) means: rebuild from the catalog.
    """

    def __init__(self, data_dir: Path, name: str):
        self.index_path = Path(data_dir) / f"{name}.faiss"
        self.meta_path = Path(data_dir) / f"{name}.json"
        self.index = None
        self.dim = 0
        self.model = ""
        self.generation = -1

    def __len__(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    def ensure(
        self,
        generation: int,
        model: str,
        count: int,
        load_vectors: Callable[[], tuple[np.ndarray, np.ndarray]],
    ) -> None:
        """Make the in-memory index current: keep it, load the saved one, or rebuild.

        `count` is how many vectors the catalog holds; any disagreement means rebuild.
        """
        current = self.generation == generation and self.model == model and len(self) == count
        if self.index is not None and current:
            return
        if self._load(generation, model) and len(self) == count:
            return
        ids, vecs = load_vectors()
        self.build(ids, vecs, generation, model)
        self.save()

    def build(self, ids: np.ndarray, vecs: np.ndarray, generation: int, model: str) -> None:
        """A fresh index over these vectors (normalised here, whatever the caller passed)."""
        import faiss

        vecs = normalise(vecs)
        self.dim = int(vecs.shape[1]) if len(vecs) else 0
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(max(self.dim, 1)))
        if len(ids):
            index.add_with_ids(vecs, np.asarray(ids, dtype=np.int64))
        self.index, self.generation, self.model = index, generation, model

    def search(
        self, query: np.ndarray, k: int, allowed: Iterable[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (ids, scores) by inner product, optionally only among `allowed` ids."""
        import faiss

        if self.index is None or len(self) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = normalise(np.asarray(query, dtype=np.float32).reshape(1, -1))
        params = None
        if allowed is not None:
            allowed_ids = np.fromiter(allowed, dtype=np.int64)
            if len(allowed_ids) == 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed_ids))
            k = min(k, len(allowed_ids))
        k = min(k, len(self))
        scores, ids = self.index.search(q, k, params=params)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def vector(self, item_id: int) -> np.ndarray | None:
        """The stored vector of one id, or None."""
        if self.index is None:
            return None
        try:
            return self.index.reconstruct(int(item_id))
        except RuntimeError:
            return None

    def save(self) -> None:
        """Write the index and its sidecar atomically (a crash leaves the old pair or none)."""
        import faiss

        if self.index is None:
            return
        tmp = self.index_path.with_suffix(".faiss.tmp")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, self.index_path)
        meta = {"generation": self.generation, "model": self.model, "count": len(self)}
        tmp_meta = self.meta_path.with_suffix(".json.tmp")
        tmp_meta.write_text(json.dumps(meta))
        os.replace(tmp_meta, self.meta_path)

    def _load(self, generation: int, model: str) -> bool:
        import faiss

        try:
            meta = json.loads(self.meta_path.read_text())
            if meta.get("generation") != generation or meta.get("model") != model:
                return False
            index = faiss.read_index(str(self.index_path))
        except (OSError, ValueError, RuntimeError):
            return False  # missing, stale or corrupt: the caller rebuilds from the catalog
        if int(index.ntotal) != meta.get("count"):
            return False
        self.index, self.generation, self.model = index, generation, model
        self.dim = int(index.d)
        return True


def normalise(vecs: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as contiguous float32."""
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    if vecs.size == 0:
        return vecs
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return np.ascontiguousarray(vecs / np.maximum(norms, 1e-12), dtype=np.float32)
