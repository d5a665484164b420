"""People: grouping faces into them (pure functions over arrays), then naming and fixing them.

In the spirit of Immich: a face is a *core* face when faces from at least
`face_core_neighbours` other photos lie within `face_max_distance` of it. Core faces
within that distance of each other (or of a face that already has a person) form one
person; other faces join the nearest person-bearing or core neighbour within the
distance, or stay unassigned. Rules Immich lacks:

- two faces in the same photo are never the same person (a merge that would put two
  faces of one photo into one person is refused);
- faces the user assigned or rejected (`locked`) are never moved; user-assigned faces
  anchor their person, so neighbours join it;
- two existing people are never merged by the clustering (only the user merges);
- new faces join existing people without re-clustering the library: only the new
  faces and the unassigned faces in their neighbourhood are (re)considered.

The clustering functions read no catalog: arrays in, a ClusterResult out. Below them,
`FaceIndexing` (the indexer's face stage) and `PeopleMixin` (the people half of `Library`)
feed them from the catalog and write their results back.
"""

from __future__ import annotations

import io
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import InvalidInput, NotFound
from index.settings import Settings

NO_PERSON = -1
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class FaceSet:
    """Faces as aligned arrays: id, photo, vector, current person, and whether it is locked."""

    ids: np.ndarray  # int64 face ids
    photos: np.ndarray  # int64 photo id of each face
    vectors: np.ndarray  # float32 (n, d)
    persons: np.ndarray = field(default=None)  # int64 person id, NO_PERSON when none
    locked: np.ndarray = field(default=None)  # bool: the user assigned or rejected it

    def __post_init__(self) -> None:
        n = len(self.ids)
        vectors = np.asarray(self.vectors, dtype=np.float32)
        vectors = vectors.reshape(n, -1) if n else vectors.reshape(0, vectors.shape[-1] or 0)
        persons = np.full(n, NO_PERSON, np.int64) if self.persons is None else self.persons
        locked = np.zeros(n, bool) if self.locked is None else self.locked
        object.__setattr__(self, "ids", np.asarray(self.ids, dtype=np.int64))
        object.__setattr__(self, "photos", np.asarray(self.photos, dtype=np.int64))
        object.__setattr__(self, "vectors", np.ascontiguousarray(vectors))
        object.__setattr__(self, "persons", np.asarray(persons, dtype=np.int64))
        object.__setattr__(self, "locked", np.asarray(locked, dtype=bool))
        if not (len(self.photos) == len(self.persons) == len(self.locked) == len(vectors) == n):
            raise ValueError("FaceSet arrays must all have one entry per face")

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def concat(cls, parts: Iterable[FaceSet]) -> FaceSet:
        """One FaceSet holding the faces of all parts, in order."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls(np.zeros(0), np.zeros(0), np.zeros((0, 0)))
        return cls(
            np.concatenate([p.ids for p in parts]),
            np.concatenate([p.photos for p in parts]),
            np.concatenate([p.vectors for p in parts]),
            np.concatenate([p.persons for p in parts]),
            np.concatenate([p.locked for p in parts]),
        )

    def subset(self, rows: np.ndarray) -> FaceSet:
        """The faces at the given row positions (or boolean mask)."""
        return FaceSet(
            self.ids[rows],
            self.photos[rows],
            self.vectors[rows],
            self.persons[rows],
            self.locked[rows],
        )


@dataclass(frozen=True)
class ClusterResult:
    """What clustering decided for the faces it considered; faces not mentioned keep theirs."""

    joined: dict[int, int]  # face id -> existing person id it now belongs to
    new_people: tuple[tuple[int, ...], ...]  # face ids of each new person, largest first
    unassigned: tuple[int, ...]  # face ids considered that have no person
    # face id -> L2 distance to the nearest other face of its person (joined or new)
    distances: dict[int, float] = field(default_factory=dict, compare=False)


def neighbours(
    queries: np.ndarray, pool: np.ndarray, radius: float, index: Any = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each query vector, (pool rows, L2 distances) within `radius`, nearest first.

    `index` may be a prebuilt faiss index whose row i is `pool[i]` (saves rebuilding it).
    """
    if len(queries) == 0:
        return []
    if len(pool) == 0:
        empty = (np.zeros(0, np.int64), np.zeros(0, np.float32))
        return [empty for _ in range(len(queries))]
    import faiss

    if index is None:
        index = faiss.IndexFlatL2(pool.shape[1])
        index.add(np.ascontiguousarray(pool, dtype=np.float32))
    # faiss's L2 indexes work in squared distances.
    lims, sq, rows = index.range_search(np.ascontiguousarray(queries, dtype=np.float32), radius**2)
    out = []
    for q in range(len(queries)):
        r, d = rows[lims[q] : lims[q + 1]], np.sqrt(np.maximum(sq[lims[q] : lims[q + 1]], 0))
        order = np.argsort(d, kind="stable")
        out.append((r[order].astype(np.int64), d[order].astype(np.float32)))
    return out


def assign_new_faces(
    new: FaceSet, existing: FaceSet, settings: Settings, index: Any = None
) -> ClusterResult:
    """Cluster freshly detected faces into existing or new people, touching nothing else.

    Besides `new`, only the unassigned, unlocked faces of `existing` that lie within
    `face_max_distance` of a new face are reconsidered (a new photo can make them core).
    `index`: optional faiss index over `existing.vectors`, row for row.
    """
    pool = FaceSet.concat([existing, new])
    d = settings.face_max_distance
    if index is None and len(existing):
        import faiss

        index = faiss.IndexFlatL2(existing.vectors.shape[1])
        index.add(existing.vectors)
    # Which existing unassigned faces does this batch reach?
    near = neighbours(new.vectors, existing.vectors, d, index)
    woken = set()
    for rows, _ in near:
        for r in rows:
            if existing.persons[r] == NO_PERSON and not existing.locked[r]:
                woken.add(int(r))
    # Locked faces are never moved, even when they are new to the clustering (carried over
    # from another face model, say): they stay as the user left them and anchor their person.
    fresh = len(existing) + np.flatnonzero(~new.locked)
    pending = np.concatenate([np.array(sorted(woken), np.int64), fresh.astype(np.int64)])
    return _cluster(pool, pending, settings, existing_index=index, n_existing=len(existing))


def cluster_all(faces: FaceSet, settings: Settings) -> ClusterResult:
    """Re-cluster every unlocked face from scratch; locked user faces anchor their people.

    Existing automatic assignments are ignored (every unlocked face is reconsidered), so a
    returned `joined` entry means the face sits next to a user-confirmed face of that person.
    """
    anchors = faces.persons.copy()
    anchors[~faces.locked] = NO_PERSON
    pool = FaceSet(faces.ids, faces.photos, faces.vectors, anchors, faces.locked)
    pending = np.flatnonzero(~faces.locked)
    return _cluster(pool, pending, settings)


class _Components:
    """Union-find over pending core faces and existing people, with cannot-link rules.

    Each component knows its photos and its existing person (if any); two components
    merge only when they share no photo and do not both carry an existing person.
    """

    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}
        self.photos: dict[Any, set[int]] = {}
        self.person: dict[Any, int] = {}

    def add(self, node: Any, photos: set[int], person: int = NO_PERSON) -> None:
        """A new singleton component (no-op when the node exists)."""
        if node not in self.parent:
            self.parent[node] = node
            self.photos[node] = photos
            self.person[node] = person

    def find(self, node: Any) -> Any:
        """The root of the node's component."""
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:  # path compression
            self.parent[node], node = root, self.parent[node]
        return root

    def can_take(self, root: Any, photo: int) -> bool:
        """Whether a face of `photo` may join the component (none of its photo is in it)."""
        return photo not in self.photos[root]

    def union(self, a: Any, b: Any) -> bool:
        """Join two components unless a cannot-link rule forbids it; True when joined."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        pa, pb = self.person[ra], self.person[rb]
        if pa != NO_PERSON and pb != NO_PERSON:
            return False  # only the user merges two people
        if not self.photos[ra].isdisjoint(self.photos[rb]):
            return False  # two faces of one photo are never one person
        if len(self.photos[ra]) < len(self.photos[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.photos[ra] |= self.photos.pop(rb)
        self.person[ra] = pa if pa != NO_PERSON else pb
        del self.person[rb]
        return True


def _cluster(
    pool: FaceSet,
    pending: np.ndarray,
    settings: Settings,
    existing_index: Any = None,
    n_existing: int | None = None,
) -> ClusterResult:
    """Decide a person for each pending row of `pool`; every other row stays as it is."""
    d = settings.face_max_distance
    min_photos = settings.face_core_neighbours
    if len(pending) == 0:
        return ClusterResult({}, (), ())
    near = _pool_neighbours(pool, pending, d, existing_index, n_existing)

    # Neighbours from the face's own photo can never be the same person: drop them. A face
    # with a look-alike in its own photo (twins, a mirror) is ambiguous, so it may not seed
    # or link a person: each twin would otherwise pull half of the real person its way.
    is_pending = np.zeros(len(pool), bool)
    is_pending[pending] = True
    core = np.zeros(len(pool), bool)
    for k, row in enumerate(pending):
        rows, dist = near[k]
        same_photo = pool.photos[rows] == pool.photos[row]
        twinned = bool(np.any(same_photo & (rows != row)))
        near[k] = (rows[~same_photo], dist[~same_photo])
        core[row] = not twinned and len(np.unique(pool.photos[near[k][0]])) >= min_photos

    # Existing people involved get one node each, holding all their photos.
    comps = _Components()
    touched = {
        int(pool.persons[r])
        for rows, _ in near
        for r in rows
        if not is_pending[r] and pool.persons[r] != NO_PERSON
    }
    for person in touched:
        # Pending faces are being decided anew: their current person does not count here.
        settled = (pool.persons == person) & ~is_pending
        comps.add(("p", person), set(pool.photos[settled].tolist()), person)
    for row in pending:
        if core[row]:
            comps.add(int(row), {int(pool.photos[row])})

    def node_of(row: int) -> Any:
        if is_pending[row]:
            return row if core[row] else None
        person = int(pool.persons[row])
        return ("p", person) if person != NO_PERSON else None

    # Core faces link to core faces and to people, closest pairs first (single linkage
    # under the cannot-link rules, so the strongest evidence decides each conflict).
    edges = []
    for k, row in enumerate(pending):
        if core[row]:
            rows, dist = near[k]
            edges.extend((float(dd), int(row), int(r)) for r, dd in zip(rows, dist, strict=True))
    edges.sort()
    for _, a, b in edges:
        nb = node_of(b)
        if nb is not None:
            comps.union(a, nb)

    # Other pending faces join the nearest core or person-bearing neighbour that has room.
    joined_to: dict[int, Any] = {}
    loose = [(k, int(row)) for k, row in enumerate(pending) if not core[row]]
    loose.sort(key=lambda kr: float(near[kr[0]][1][0]) if len(near[kr[0]][1]) else np.inf)
    for k, row in loose:
        for r in near[k][0]:
            nb = node_of(int(r))
            if nb is None:
                continue
            root = comps.find(nb)
            if comps.can_take(root, int(pool.photos[row])):
                comps.photos[root].add(int(pool.photos[row]))
                joined_to[row] = root
                break

    # Read the components out: existing people, new groups, or nobody.
    members: dict[Any, list[int]] = {}
    for row in pending:
        row = int(row)
        root = comps.find(row) if core[row] else joined_to.get(row)
        if root is not None:
            members.setdefault(root, []).append(row)
    joined: dict[int, int] = {}
    new_people: list[tuple[int, ...]] = []
    unassigned: list[int] = []
    for root, rows in members.items():
        person = comps.person[root]
        ids = [int(pool.ids[r]) for r in rows]
        if person != NO_PERSON:
            joined.update(dict.fromkeys(ids, person))
        elif len(rows) >= min_photos + 1:
            new_people.append(tuple(sorted(ids)))
        else:
            unassigned.extend(ids)  # too small to be somebody yet
    placed = set(joined) | {i for group in new_people for i in group} | set(unassigned)
    unassigned.extend(int(pool.ids[r]) for r in pending if int(pool.ids[r]) not in placed)
    new_people.sort(key=lambda g: (-len(g), g))

    # How close each placed face is to the rest of its person (search ranks by it).
    group_of: dict[int, Any] = {}
    for root, rows in members.items():
        if comps.person[root] != NO_PERSON or len(rows) >= min_photos + 1:
            group_of.update(dict.fromkeys(rows, root))
    distances: dict[int, float] = {}
    for k, row in enumerate(pending):
        root = group_of.get(int(row))
        if root is None:
            continue
        for r, dd in zip(*near[k], strict=True):
            other = group_of.get(int(r))
            if other is None and not is_pending[r] and pool.persons[r] != NO_PERSON:
                other = comps.find(("p", int(pool.persons[r])))
            if other == root:
                distances[int(pool.ids[row])] = float(dd)
                break
    return ClusterResult(joined, tuple(new_people), tuple(sorted(unassigned)), distances)


def _pool_neighbours(
    pool: FaceSet,
    pending: np.ndarray,
    radius: float,
    existing_index: Any,
    n_existing: int | None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Neighbours of the pending rows among all of `pool`, reusing an index of its head."""
    queries = pool.vectors[pending]
    if existing_index is None or n_existing is None:
        return neighbours(queries, pool.vectors, radius)
    head = neighbours(queries, pool.vectors[:n_existing], radius, existing_index)
    tail = neighbours(queries, pool.vectors[n_existing:], radius)
    out = []
    for (r1, d1), (r2, d2) in zip(head, tail, strict=True):
        rows = np.concatenate([r1, r2 + n_existing])
        dist = np.concatenate([d1, d2])
        order = np.argsort(dist, kind="stable")
        out.append((rows[order], dist[order]))
    return out


def absorb(person: FaceSet, candidates: FaceSet, settings: Settings) -> dict[int, float]:
    """Unassigned faces close enough to a (just named) person to join it: face id -> distance.

    Nearest first; at most one face per photo, and none from a photo the person is already in.
    """
    if not len(person) or not len(candidates):
        return {}
    near = neighbours(candidates.vectors, person.vectors, settings.face_max_distance)
    taken = set(person.photos.tolist())
    options = sorted(
        (float(dist[0]), int(candidates.ids[k]), int(candidates.photos[k]))
        for k, (_, dist) in enumerate(near)
        if len(dist)
    )
    joined: dict[int, float] = {}
    for dist, face_id, photo in options:
        if photo not in taken:
            taken.add(photo)
            joined[face_id] = dist
    return joined


# --- the people of one library (catalog-backed) ---

# How an unnamed cluster is labelled and referred to: "person 7" (also "Person #7", "person7").
# The one pattern for that label; `fullmatch` it against a whole name.
PERSON_LABEL = re.compile(r"person\s*#?\s*(\d+)", re.IGNORECASE)
MAX_NAME = 60


def person_label(person_id: int) -> str:
    """The label of an unnamed cluster, as shown and as accepted back: "person 7"."""
    return f"person {person_id}"


def labelled_person(text: str) -> int | None:
    """The person id a "person 7" label names, or None when `text` is not such a label."""
    m = PERSON_LABEL.fullmatch(" ".join(str(text).split()))
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class PersonInfo:
    """A person as the UI and the command line show it."""

    id: int
    name: str | None  # None for an unnamed cluster
    label: str  # the name, or "person 7"
    photo_count: int
    face_count: int
    crop: str | None  # a face crop thumbnail
    aliases: tuple[str, ...] = ()

    def to_json(self) -> dict:
        """JSON-ready data for `people --json`."""
        return {
            "id": self.id,
            "name": self.name,
            "label": self.label,
            "photos": self.photo_count,
            "faces": self.face_count,
            "aliases": list(self.aliases),
            "crop": self.crop,
        }


@dataclass(frozen=True)
class FaceInfo:
    """One face of a photo, left to right, and whom it belongs to."""

    face_id: int | None  # None for a face of an uploaded photo
    index: int  # 1-based, left to right
    box: tuple[float, float, float, float]
    person_id: int | None
    label: str | None  # the person's name or "person 7"; None when unassigned
    distance: float | None
    crop: str | None


@dataclass(frozen=True)
class NamingResult:
    """What naming did: the person, how many faces and photos it has now, how many joined."""

    person_id: int
    name: str
    faces: int
    photos: int
    joined: int  # faces that joined on their own, being close to the named ones


def face_crop_path(data_dir: Path, photo_hash: str, idx: int) -> Path:
    """Where the crop of face `idx` of content `photo_hash` lives (survives moves)."""
    return Path(data_dir) / "faces" / photo_hash[:2] / f"{photo_hash}_{idx}.jpg"


def shorten(text: str, limit: int = MAX_NAME) -> str:
    """Text as it may be quoted back to the user: at most `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_name(name: str) -> str:
    """A person's name as stored: trimmed, inner spaces collapsed; refuses unusable names."""
    if not isinstance(name, str):
        raise InvalidInput("A name must be text.")
    text = unicodedata.normalize("NFC", name).strip()
    if not text:
        raise InvalidInput("A name cannot be empty.")
    # Checked before spaces are collapsed: a tab or line break inside a name is a mistake.
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise InvalidInput(
            "A name cannot contain control characters (tabs, line breaks, escapes) or bytes "
            "that are not text."
        )
    text = " ".join(text.split())
    if len(text) > MAX_NAME:
        raise InvalidInput(f"That name is too long ({len(text)} characters; at most {MAX_NAME}).")
    if labelled_person(text) is not None:
        raise InvalidInput(f'"{text}" is how unnamed people are labelled; choose a real name.')
    return text


class FaceIndexing:
    """The indexer's face stage: detect and embed, store faces and crops, cluster each batch."""

    def __init__(self, settings: Settings, embedder: str | None = None):
        from index.faces import FaceAnalyzer

        self.settings = settings
        self.analyzer = FaceAnalyzer(settings, embedder)
        self.model_id = self.analyzer.embedder_id

    def analyze(self, decoded: Any) -> tuple[str, list, list[bytes]]:
        """Faces of one decoded photo plus a JPEG crop of each (photo hash, faces, crops)."""
        faces = self.analyzer.analyze(decoded.image, decoded.scale)
        crops = []
        for face in faces:
            buf = io.BytesIO()
            self.analyzer.crop(decoded.image, face, scale=decoded.scale).save(
                buf, "JPEG", quality=85
            )
            crops.append(buf.getvalue())
        return decoded.hash, faces, crops

    def store(self, catalog: Any, photo_id: int, analysed: tuple[str, list, list[bytes]]) -> None:
        """Write one photo's faces to the catalog and their crops next to the thumbnails."""
        photo_hash, faces, crops = analysed
        rows = [
            {"box": f.box, "landmarks": f.landmarks, "score": f.score, "vector": f.vector}
            for f in faces
        ]
        # Faces found again (e.g. re-embedded with another face model) keep what the user
        # said about them: the person, who decided it, and refusals.
        old = catalog.faces_of_photo(photo_id)
        refused = catalog.rejections(f["id"] for f in old) if old else {}
        ids = catalog.put_faces(photo_id, self.model_id, rows)
        for new_id, prev in zip(ids, same_faces([f.box for f in faces], old), strict=True):
            if prev is None:
                continue
            for person in refused.get(prev["id"], []):
                catalog.reject_face(new_id, person)
            catalog.assign_faces(
                [(new_id, prev["person_id"], prev["distance"])], source=prev["source"]
            )
        for k, jpeg in enumerate(crops):
            path = face_crop_path(catalog.data_dir, photo_hash, k)
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(jpeg)
                os.replace(tmp, path)

    def after_batch(self, catalog: Any, photo_ids: list[int]) -> None:
        """Cluster the faces of these photos into existing or new people."""
        catalog.record_model("face", self.model_id, self.analyzer.dim)
        recluster(catalog, self.settings, self.model_id, photo_ids=photo_ids)


def same_faces(boxes: list[Box], old: list[dict], min_iou: float = 0.5) -> list[dict | None]:
    """For each new box, the old face it is (best overlap above `min_iou`), each used once."""
    out: list[dict | None] = []
    used: set[int] = set()
    for box in boxes:
        best = max(
            (f for f in old if f["id"] not in used),
            key=lambda f: box_iou(box, f["box"]),
            default=None,
        )
        if best is not None and box_iou(box, best["box"]) >= min_iou:
            used.add(best["id"])
            out.append(best)
        else:
            out.append(None)
    return out


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def catalog_faces(catalog: Any, model: str) -> FaceSet:
    """Every face of `model` in the catalog, as a FaceSet."""
    a = catalog.face_arrays(model)
    return FaceSet(a["ids"], a["photos"], a["vectors"], a["persons"], a["locked"])


def recluster(
    catalog: Any,
    settings: Settings,
    model: str,
    photo_ids: Iterable[int] | None = None,
    face_ids: Iterable[int] | None = None,
) -> ClusterResult:
    """Cluster the faces of `photo_ids` (or just `face_ids`) into people and write the result.

    With neither, every unlocked face is re-clustered from scratch.
    """
    faces = catalog_faces(catalog, model)
    if face_ids is not None:
        new = np.isin(faces.ids, np.fromiter(face_ids, np.int64)) & ~faces.locked
        result = assign_new_faces(faces.subset(new), faces.subset(~new), settings)
    elif photo_ids is None:
        result = cluster_all(faces, settings)
        # A full re-cluster replaces every automatic assignment.
        catalog.assign_faces(
            [(int(i), None, None) for i in faces.ids[~faces.locked]], source="auto"
        )
    else:
        new = np.isin(faces.photos, np.fromiter(photo_ids, np.int64))
        result = assign_new_faces(faces.subset(new), faces.subset(~new), settings)
    apply_clustering(catalog, result)
    return result


def apply_clustering(catalog: Any, result: ClusterResult) -> None:
    """Write a ClusterResult: joined faces, new unnamed people, faces left unassigned."""
    d = result.distances
    catalog.assign_faces([(f, p, d.get(f)) for f, p in result.joined.items()], source="auto")
    for group in result.new_people:
        person = catalog.add_person(None)
        catalog.assign_faces([(f, person, d.get(f)) for f in group], source="auto")
    catalog.assign_faces([(f, None, None) for f in result.unassigned], source="auto")
    catalog.delete_empty_people()


class PeopleMixin:
    """The people half of `Library`'s front door: list, name, rename, merge, forget, who is this.

    Expects `catalog`, `settings`, `data_dir`, `read_only`, `resolve_photo` and `face_stage`
    from the Library it is mixed into.
    """

    catalog: Any
    settings: Settings
    data_dir: Path

    # --- reading ---

    def face_model_mismatch(self) -> str | None:
        """A message when the configured face model is not the one the faces were made with."""
        recorded = self.catalog.model("face")
        wanted = self._face_indexing().model_id
        if recorded is None or recorded["spec"] == wanted:
            return None
        return (
            f"This library's faces were made with the face model {recorded['spec']}, not "
            f"{wanted} (set by PIR_FACE_EMBEDDER={self.settings.face_embedder}). Face vectors "
            "of two models are never mixed: run `python app.py index FOLDER --reembed` to "
            "find every face again with the new model (names you gave are kept), or unset "
            "PIR_FACE_EMBEDDER to keep the old one."
        )

    def face_model(self) -> str:
        """The face model of this library's faces (recorded), else the configured one."""
        recorded = self.catalog.model("face")
        return recorded["spec"] if recorded else self._face_indexing().model_id

    def _face_indexing(self) -> FaceIndexing:
        stage = self.face_stage() if hasattr(self, "face_stage") else None
        if stage is None:
            stage = getattr(self, "_people_stage", None) or FaceIndexing(self.settings)
            self._people_stage = stage
        return stage

    def people(self) -> list[PersonInfo]:
        """Named people first (by name), then unnamed clusters, largest first."""
        aliases = self.catalog.aliases()
        summary = self.catalog.people_summary()
        covers = self.catalog.faces_by_id(r["cover"] for r in summary if r["cover"])
        out = []
        for r in summary:
            cover = covers.get(r["cover"])
            out.append(
                PersonInfo(
                    id=r["id"],
                    name=r["name"],
                    label=r["name"] or person_label(r["id"]),
                    photo_count=r["photos"],
                    face_count=r["faces"],
                    crop=self._crop(cover["photo_hash"], cover["idx"]) if cover else None,
                    aliases=tuple(aliases.get(r["id"], ())),
                )
            )
        out.sort(key=lambda p: (p.name is None, (p.name or "").lower(), -p.face_count, p.id))
        return out

    def people_names(self) -> dict[str, list[str]]:
        """Named people and their aliases (what the query parser recognises)."""
        aliases = self.catalog.aliases()
        return {p.name: list(aliases.get(p.id, ())) for p in self.people() if p.name is not None}

    def photo_faces(self, ref: str | Path | int) -> list[FaceInfo]:
        """The faces of one library photo, left to right."""
        photo = self._photo(ref)
        return [
            self._face_info(f, photo.get("hash")) for f in self.catalog.faces_of_photo(photo["id"])
        ]

    def who_is(self, image: Any) -> list[FaceInfo]:
        """Faces of an uploaded photo, each matched to the nearest known person within distance."""
        from PIL import ImageOps

        faces = self._face_indexing().analyzer.analyze_photo(ImageOps.exif_transpose(image))
        if not faces:
            return []
        known = catalog_faces(self.catalog, self.face_model())
        known = known.subset(known.persons != NO_PERSON)
        vectors = np.stack([f.vector for f in faces])
        near = neighbours(vectors, known.vectors, self.settings.face_max_distance)
        labels = {p.id: p.label for p in self.people()}
        out = []
        for k, (face, (rows, dist)) in enumerate(zip(faces, near, strict=True)):
            person = int(known.persons[rows[0]]) if len(rows) else None
            out.append(
                FaceInfo(
                    face_id=None,
                    index=k + 1,
                    box=face.box,
                    person_id=person,
                    label=labels.get(person),
                    distance=float(dist[0]) if len(rows) else None,
                    crop=None,
                )
            )
        return out

    # --- naming and fixing ---

    def name_face(self, ref: str | Path | int, name: str, face: int | None = None) -> NamingResult:
        """Name the person in a photo (face = 1-based, left to right) and its whole cluster."""
        name = clean_name(name)
        photo = self._photo(ref)
        faces = self.catalog.faces_of_photo(photo["id"])
        if not faces:
            raise InvalidInput(f"No face was found in {photo['path']}, so there is nobody to name.")
        if face is None and len(faces) > 1:
            listing = "; ".join(self._describe(f, k + 1) for k, f in enumerate(faces))
            raise InvalidInput(
                f"{photo['path']} has {len(faces)} faces ({listing}). Say which one, counted from "
                f"the left: --face 1 to --face {len(faces)}."
            )
        k = 1 if face is None else face
        if not 1 <= k <= len(faces):
            raise InvalidInput(
                f"{photo['path']} has {len(faces)} face{'s' if len(faces) > 1 else ''}; "
                f"there is no face {k}."
            )
        target = faces[k - 1]
        with self._write():
            person = self.catalog.person_by_name(name)
            current = self.catalog.person(target["person_id"]) if target["person_id"] else None
            if person is None and current is not None and current["name"] is None:
                # Naming a face names its whole (unnamed) cluster.
                person_id = current["id"]
                self.catalog.set_person_name(person_id, name)
            elif person is None:
                person_id = self.catalog.add_person(name)
            else:
                person_id = person["id"]
                if current is not None and current["name"] is None and current["id"] != person_id:
                    self._move_all(current["id"], person_id)  # the cluster is that person too
            self._assign_by_user(target, person_id)
            return self._named(person_id)

    def name_person(self, person_id: int, name: str) -> NamingResult:
        """Give a person (e.g. an unnamed cluster, "person 7") a name, or a new one."""
        name = clean_name(name)
        with self._write():
            person = self._person(person_label(person_id))
            self._check_free(name, person["id"])
            self.catalog.set_person_name(person["id"], name)
            return self._named(person["id"])

    def rename(self, old: str, new: str) -> NamingResult:
        """Rename a person (by name, alias or "person N")."""
        new = clean_name(new)
        with self._write():
            person = self._person(old)
            self._check_free(new, person["id"])
            self.catalog.set_person_name(person["id"], new)
            return self._named(person["id"])

    def merge(self, a: str, b: str) -> NamingResult:
        """Merge person `a` into person `b`: a's faces, name (as an alias) and aliases go to b."""
        with self._write():
            pa, pb = self._person(a), self._person(b)
            if pa["id"] == pb["id"]:
                raise InvalidInput(f"{a} and {b} are already the same person.")
            self._move_all(pa["id"], pb["id"])
            self.catalog.move_aliases(pa["id"], pb["id"])
            old_name = pa["name"]
            self.catalog.delete_person(pa["id"])
            if old_name:
                self.catalog.add_alias(pb["id"], old_name)
            return self._named(pb["id"], absorb_near=False)

    def add_alias(self, name: str, alias: str) -> None:
        """Another name for a person ("Bob" = "Robert")."""
        alias = clean_name(alias)
        with self._write():
            person = self._person(name)
            self._check_free(alias, person["id"])
            self.catalog.add_alias(person["id"], alias)

    def forget(self, name: str) -> None:
        """Forget a person: the name, aliases and every assignment go; the faces re-cluster."""
        with self._write():
            person = self._person(name)
            freed = [f["id"] for f in self.catalog.faces_of_person(person["id"])]
            self.catalog.delete_person(person["id"])
            if freed:
                recluster(self.catalog, self.settings, self.face_model(), face_ids=freed)

    def unassign(self, ref: str | Path | int, name: str) -> None:
        """ "That is not Alice in this photo": take the face off the person, for good."""
        photo = self._photo(ref)
        with self._write():
            person = self._person(name)
            faces = [
                f
                for f in self.catalog.faces_of_photo(photo["id"])
                if f["person_id"] == person["id"]
            ]
            if not faces:
                raise NotFound(f"{self._label(person)} is not in {photo['path']}.")
            for f in faces:
                self.catalog.reject_face(f["id"], person["id"])
            self.catalog.delete_empty_people()

    # --- helpers ---

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One transaction, under the library's writer lock."""
        with getattr(self, "_lock", None) or nullcontext(), self.catalog.transaction():
            yield

    def _photo(self, ref: str | Path | int) -> dict:
        if isinstance(ref, int):
            photo = self.catalog.photo(ref)
            if photo is None or photo["status"] != "ok":
                raise NotFound(f"There is no photo {ref} in this library.")
            return photo
        return self.resolve_photo(ref)

    def _person(self, ref: str) -> dict:
        text = " ".join(str(ref).split())
        label_id = labelled_person(text)
        person = (
            self.catalog.person(label_id)
            if label_id is not None
            else self.catalog.person_by_name(text)
        )
        if person is None:
            known = [p.label for p in self.people()][:10]
            hint = f" Known: {', '.join(known)}." if known else " Nobody has been named yet."
            raise NotFound(f'Nobody called "{shorten(text)}" is in this library.{hint}')
        return person

    def _label(self, person: dict) -> str:
        return person["name"] or person_label(person["id"])

    def _check_free(self, name: str, person_id: int) -> None:
        other = self.catalog.person_by_name(name)
        if other is not None and other["id"] != person_id:
            raise InvalidInput(
                f'"{name}" already belongs to another person ({self._label(other)}). '
                "Choose another name, or merge the two people."
            )

    def _move_all(self, from_id: int, to_id: int) -> None:
        """Every face of one person to another; a face whose photo `to_id` is in already stays out."""
        taken = {f["photo_id"] for f in self.catalog.faces_of_person(to_id)}
        moves = []
        for f in self.catalog.faces_of_person(from_id):
            if f["photo_id"] in taken:
                self.catalog.assign_faces([(f["id"], None, None)], source="auto")
            else:
                taken.add(f["photo_id"])
                moves.append((f["id"], to_id, f["distance"], f["source"]))
        for source in ("user", "auto"):
            self.catalog.assign_faces(
                [(i, p, d) for i, p, d, s in moves if s == source], source=source
            )

    def _assign_by_user(self, face: dict, person_id: int) -> None:
        """The user's word: this face is that person (and no other face of its photo is)."""
        for other in self.catalog.faces_of_photo(face["photo_id"]):
            if other["id"] != face["id"] and other["person_id"] == person_id:
                if other["source"] == "user":
                    raise InvalidInput(
                        f"You already said face {other['idx'] + 1} of this photo is "
                        f"{self._label(self.catalog.person(person_id))}; one person appears "
                        "once per photo. Unassign that face first."
                    )
                self.catalog.assign_faces([(other["id"], None, None)], source="auto")
        self.catalog.clear_rejection(face["id"], person_id)
        self.catalog.assign_faces([(face["id"], person_id, 0.0)], source="user")
        self.catalog.delete_empty_people()

    def _named(self, person_id: int, absorb_near: bool = True) -> NamingResult:
        """After naming: unassigned faces near the person join it; then say where it stands."""
        joined = 0
        if absorb_near:
            faces = catalog_faces(self.catalog, self.face_model())
            mine = faces.subset(faces.persons == person_id)
            free = faces.subset((faces.persons == NO_PERSON) & ~faces.locked)
            near = absorb(mine, free, self.settings)
            self.catalog.assign_faces([(f, person_id, d) for f, d in near.items()], source="auto")
            joined = len(near)
        person = self.catalog.person(person_id)
        own = self.catalog.faces_of_person(person_id)
        return NamingResult(
            person_id=person_id,
            name=person["name"] or person_label(person_id),
            faces=len(own),
            photos=len({f["photo_id"] for f in own}),
            joined=joined,
        )

    def _describe(self, face: dict, k: int) -> str:
        who = face.get("person_name") or (
            person_label(face["person_id"]) if face["person_id"] else "unknown"
        )
        return f"face {k}: {who}"

    def _face_info(self, face: dict, photo_hash: str | None) -> FaceInfo:
        label = face.get("person_name") or (
            person_label(face["person_id"]) if face["person_id"] else None
        )
        return FaceInfo(
            face_id=face["id"],
            index=face["idx"] + 1,
            box=tuple(face["box"]),
            person_id=face["person_id"],
            label=label,
            distance=face["distance"],
            crop=self._crop(photo_hash, face["idx"]),
        )

    def _crop(self, photo_hash: str | None, idx: int) -> str | None:
        """The cached crop file of face `idx` of a photo, if there is one."""
        if not photo_hash:
            return None
        path = face_crop_path(self.data_dir, photo_hash, idx)
        return str(path) if path.exists() else None
