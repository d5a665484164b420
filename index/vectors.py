"""FAISS stores of L2-normalised vectors keyed by catalog ids; derived data, rebuilt at will.

Small stores are exact (`IDMap2,SQfp16`: brute force over float16 codes). Above
`Settings.ivf_threshold` vectors a store becomes approximate: an inverted file with 8-bit
scalar-quantised codes (`IVF<n>,SQ8`, ~0.5 KB per vector instead of 2 KB), searched over
`ivf_nprobe` lists.
Both kinds answer searches restricted to a set of ids through an `IDSelector` (an exact
store scores a small set directly instead; an approximate one widens its scan to match).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from index import storage
from index.errors import WriteFailed
from index.settings import Settings

log = logging.getLogger(__name__)

FLAT = "IDMap2,SQfp16"  # exact search over half-precision codes: 1 KB per 512-d vector
_EMPTY = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


class VectorStore:
    """An inner-product FAISS index saved as `<name>.faiss` + `<name>.json` in the data dir.

    The JSON sidecar records the catalog generation, model, count and index type it was
    built from; any mismatch (or an unreadable file) means: rebuild from the catalog.
    """

    def __init__(self, data_dir: Path, name: str, settings: Settings | None = None):
        self.index_path = Path(data_dir) / f"{name}.faiss"
        self.meta_path = Path(data_dir) / f"{name}.json"
        self.settings = settings or Settings()
        self.index = None
        self.index_type = ""
        self.dim = 0
        self.model = ""
        self.generation = -1
        self.ids = np.zeros(0, dtype=np.int64)  # sorted ids held, for membership tests
        self._sample: np.ndarray | None = None

    def __len__(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    @property
    def approximate(self) -> bool:
        """True when searches go through an inverted file rather than every vector."""
        return self.index_type.startswith("IVF")

    def index_type_for(self, count: int) -> str:
        """The FAISS factory string this store uses for `count` vectors."""
        if count <= self.settings.ivf_threshold:
            return FLAT
        lists = max(1, int(self.settings.ivf_lists_factor * math.sqrt(count)))
        return f"IVF{lists},{self.settings.ivf_encoding}"

    def ensure(
        self,
        generation: int,
        model: str,
        count: int,
        load_vectors: Callable[[], tuple[np.ndarray, np.ndarray]],
        persist: bool = True,
    ) -> None:
        """Make the in-memory index current: keep it, load the saved one, or rebuild.

        `count` is how many vectors the catalog holds; any disagreement means rebuild.
        A rebuild is saved when `persist` (and the data dir takes it); if not, it only
        lives in memory, which costs a rebuild at the next start and nothing else.
        """
        wanted = self.index_type_for(count)
        current = (
            self.generation == generation
            and self.model == model
            and len(self) == count
            and self.index_type == wanted
        )
        if self.index is not None and current:
            return
        if self._load(generation, model, wanted) and len(self) == count:
            return
        ids, vecs = load_vectors()
        self.build(ids, vecs, generation, model)
        if persist:
            try:
                self.save()
            except WriteFailed as err:
                log.warning("kept the %s index in memory only. %s", self.index_path.name, err)

    def build(self, ids: np.ndarray, vecs: np.ndarray, generation: int, model: str) -> None:
        """A fresh index over these vectors (normalised here, whatever the caller passed)."""
        import faiss

        ids = np.asarray(ids, dtype=np.int64)
        vecs = normalise(vecs)
        dim = int(vecs.shape[1]) if len(vecs) else 0
        kind = self.index_type_for(len(ids))
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # training and adding do use threads
        index = faiss.index_factory(max(dim, 1), kind, faiss.METRIC_INNER_PRODUCT)
        if kind != FLAT:
            faiss.extract_index_ivf(index).cp.niter = self.settings.ivf_train_iterations
            index.train(_training_sample(vecs, self.settings.ivf_train_sample))
            # Reconstructing by id (restricted search, `vector`) needs a map from ids to codes.
            index.set_direct_map_type(faiss.DirectMap.Hashtable)
        if len(ids):
            index.add_with_ids(vecs, ids)
        self._adopt(index, kind, generation, model)

    def search(
        self, query: np.ndarray, k: int, allowed: Iterable[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (ids, scores) by inner product, optionally only among `allowed` ids."""
        import faiss

        if self.index is None or len(self) == 0 or k <= 0:
            return _EMPTY
        # FAISS splits work by query, so one query gains nothing from OpenMP threads, while
        # their spin-waiting costs ~10x on a busy machine (measured: 16 ms vs 0.7 ms at 10k).
        faiss.omp_set_num_threads(1)
        q = normalise(np.asarray(query, dtype=np.float32).reshape(1, -1))
        if allowed is None:
            params = self._params(nprobe=self.settings.ivf_nprobe)
            return self._run(q, min(k, len(self)), params)
        if not isinstance(allowed, np.ndarray):
            allowed = list(allowed)
        allowed_ids = np.asarray(allowed, dtype=np.int64).reshape(-1)
        allowed_ids = np.unique(allowed_ids[self.has(allowed_ids)])
        if len(allowed_ids) == 0:
            return _EMPTY
        if not self.approximate and len(allowed_ids) <= self.settings.search_direct_max:
            return top_k(allowed_ids, self.scores(q[0], allowed_ids), k)
        share = len(allowed_ids) / len(self)
        if self.approximate and share >= self.settings.search_postfilter_share:
            # A large selection (a popular person: a tenth of the library) is found faster by
            # the plain search, asked for enough neighbours that k of them are allowed, than
            # by scanning share-widened lists through a selector (~100 ms at 1M photos).
            want = min(len(self), math.ceil(k / share * 3))
            ids, scores = self._run(q, want, self._params(nprobe=self.settings.ivf_nprobe))
            pos = np.minimum(np.searchsorted(allowed_ids, ids), len(allowed_ids) - 1)
            keep = allowed_ids[pos] == ids
            if keep.sum() >= min(k, len(allowed_ids)):
                return ids[keep][:k], scores[keep][:k]
        # A selector only filters the lists scanned: widen the scan by how much of the
        # library the selection leaves out, so about as many allowed vectors are seen (a
        # small selection scans every list: exact, and cheap since most ids are skipped).
        # Decoding SQ8 codes one id at a time is slower than that, so IVF never does it.
        nprobe = min(math.ceil(self.settings.ivf_nprobe / share), self._lists())
        params = self._params(nprobe=nprobe, sel=faiss.IDSelectorBatch(allowed_ids))
        return self._run(q, min(k, len(allowed_ids)), params)

    def scores(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Inner products of the query with the stored vectors of `ids` (all must be held)."""
        if len(ids) == 0:
            return np.zeros(0, dtype=np.float32)
        q = normalise(np.asarray(query, dtype=np.float32).reshape(1, -1))[0]
        return _dot(self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64)), q)

    def background(self, query: np.ndarray) -> np.ndarray:
        """The query's similarity to a fixed sample of the store: what "typical" scores are."""
        if self.index is None or len(self) == 0:
            return np.zeros(0, dtype=np.float32)
        if self._sample is None:
            n = min(len(self.ids), self.settings.search_background_sample)
            # Evenly spaced ids: deterministic, and spread over the library's history.
            picks = self.ids[np.linspace(0, len(self.ids) - 1, n).astype(np.int64)]
            self._sample = self.index.reconstruct_batch(np.unique(picks))
        q = normalise(np.asarray(query, dtype=np.float32).reshape(1, -1))[0]
        return _dot(self._sample, q)

    def has(self, ids: np.ndarray) -> np.ndarray:
        """Which of these ids have a vector in the store (boolean mask)."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(self.ids) == 0:
            return np.zeros(len(ids), dtype=bool)
        # self.ids is sorted: a binary search beats np.isin's sort of a million ids.
        pos = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        return self.ids[pos] == ids

    def vector(self, item_id: int) -> np.ndarray | None:
        """The stored vector of one id (decoded, so approximate in an SQ8 store), or None."""
        if self.index is None or not self.has(np.array([item_id]))[0]:
            return None
        return self.index.reconstruct(int(item_id))

    def save(self) -> None:
        """Write the index and its sidecar atomically (a crash leaves the old pair or none)."""
        import faiss

        if self.index is None:
            return
        # Serialised in memory, then written by Python: a full disk is an OSError to report,
        # not FAISS's generic RuntimeError.
        data = faiss.serialize_index(self.index).tobytes()
        meta = {
            "generation": self.generation,
            "model": self.model,
            "count": len(self),
            "index_type": self.index_type,
            # The server and a command may save at once; the pair is loaded only when the
            # index file is the very one this sidecar was written for.
            "digest": _digest(data),
        }
        # The sidecar goes first: an index without a matching sidecar is never loaded.
        self.meta_path.unlink(missing_ok=True)
        storage.atomic_write_bytes(self.index_path, data)
        storage.atomic_write_bytes(self.meta_path, json.dumps(meta).encode())

    def _load(self, generation: int, model: str, index_type: str) -> bool:
        import faiss

        try:
            meta = json.loads(self.meta_path.read_text())
            if (
                meta.get("generation") != generation
                or meta.get("model") != model
                or meta.get("index_type", FLAT) != index_type
            ):
                return False
            data = self.index_path.read_bytes()
            if meta.get("digest") != _digest(data):
                return False  # another process's index, or half of one
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except (OSError, ValueError, RuntimeError):
            return False  # missing, stale or corrupt: the caller rebuilds from the catalog
        if int(index.ntotal) != meta.get("count"):
            return False
        self._adopt(index, index_type, generation, model)
        return True

    def _adopt(self, index, index_type: str, generation: int, model: str) -> None:
        self.index, self.index_type = index, index_type
        self.generation, self.model = generation, model
        self.dim = int(index.d) if index.ntotal else 0
        self.ids = np.sort(_stored_ids(index))
        self._sample = None

    def _lists(self) -> int:
        import faiss

        return int(faiss.extract_index_ivf(self.index).nlist) if self.approximate else 1

    def _params(self, nprobe: int, sel=None):
        import faiss

        if self.approximate:
            return faiss.SearchParametersIVF(nprobe=int(nprobe), sel=sel)
        return faiss.SearchParameters(sel=sel) if sel is not None else None

    def _run(self, q: np.ndarray, k: int, params) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self.index.search(q, k, params=params)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def top_k(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (ids, scores), best first; ties keep the lower id first."""
    if len(ids) == 0 or k <= 0:
        return _EMPTY
    k = min(k, len(ids))
    part = np.argpartition(-scores, k - 1)[:k] if k < len(ids) else np.arange(len(ids))
    order = part[np.lexsort((ids[part], -scores[part]))]
    return ids[order].astype(np.int64), scores[order].astype(np.float32)


def normalise(vecs: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as contiguous float32."""
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    if vecs.size == 0:
        return vecs
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return np.ascontiguousarray(vecs / np.maximum(norms, 1e-12), dtype=np.float32)


def _dot(matrix: np.ndarray, q: np.ndarray) -> np.ndarray:
    """matrix @ q without BLAS: numpy's BLAS threads keep spinning after a call and halve the
    speed of the text encoder that runs next (measured: 33 -> 74 ms per query); one core
    does these few million multiply-adds in a few ms."""
    return np.einsum("ij,j->i", matrix, q)


def _training_sample(vecs: np.ndarray, size: int) -> np.ndarray:
    if len(vecs) <= size:
        return vecs
    rows = np.random.default_rng(0).choice(len(vecs), size, replace=False)
    return vecs[np.sort(rows)]


def _stored_ids(index) -> np.ndarray:
    """Every id held by a flat ID map or an inverted file."""
    import faiss

    if index.ntotal == 0:
        return np.zeros(0, dtype=np.int64)
    if isinstance(index, faiss.IndexIDMap2):
        return faiss.vector_to_array(index.id_map).astype(np.int64)
    lists = faiss.extract_index_ivf(index).invlists
    parts = [
        faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
        for i in range(lists.nlist)
        if lists.list_size(i)
    ]
    return np.concatenate(parts).astype(np.int64)
