"""Clustering: which faces are one person, decided by pure functions over arrays.

In the spirit of Immich: a face is a *core* face when faces from at least
`face_core_neighbours` other photos lie within `face_max_distance` of it, or one face of
another photo lies within the much closer `face_pair_distance` (two photos of one person
make a person: a library holding someone twice should show them). Core faces
within that distance of each other (or of a face that already has a person) form one
person; other faces join the nearest person-bearing or core neighbour within the
distance, or stay unassigned. Rules Immich lacks:

- two faces in the same photo are never the same person (a merge that would put two
  faces of one photo into one person is refused);
- faces the user assigned or rejected (`locked`) are never moved; user-assigned faces
  anchor their person, so neighbours join it;
- two existing people are never merged by the clustering (only the user merges);
- new faces join existing people without re-clustering the library: only the new
  faces and the unassigned faces in their neighbourhood are (re)considered;
- a *weak* face (turned well away from the camera, doubted by the detector, found
  without landmarks, or smaller than `face_min_size`: `weak_faces`) has a vector the
  embedder, trained on clear faces seen from the front, places less surely. It never
  seeds or links a person, and joins one (in clustering, or when a person is named) only
  on the evidence a core face needs: that person's faces in `face_core_neighbours` photos
  within `face_max_distance`, or one within `face_pair_distance`. A lone borderline neighbour is not enough for it.

Nothing here reads the catalog: a FaceSet in, a ClusterResult out, so every rule is
tested on synthetic vectors. `index/people.py` feeds it from the catalog and writes the
results back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from index.settings import Settings

NO_PERSON = -1


@dataclass(frozen=True)
class FaceSet:
    """Faces as aligned arrays: id, photo, vector, current person, whether it is locked, and
    whether it is weak (see `weak_faces`)."""

    ids: np.ndarray  # int64 face ids
    photos: np.ndarray  # int64 photo id of each face
    vectors: np.ndarray  # float32 (n, d)
    persons: np.ndarray = field(default=None)  # int64 person id, NO_PERSON when none
    locked: np.ndarray = field(default=None)  # bool: the user assigned or rejected it
    weak: np.ndarray = field(default=None)  # bool: its vector is less sure (`weak_faces`)

    def __post_init__(self) -> None:
        n = len(self.ids)
        vectors = np.asarray(self.vectors, dtype=np.float32)
        vectors = vectors.reshape(n, -1) if n else vectors.reshape(0, vectors.shape[-1] or 0)
        persons = np.full(n, NO_PERSON, np.int64) if self.persons is None else self.persons
        locked = np.zeros(n, bool) if self.locked is None else self.locked
        weak = np.zeros(n, bool) if self.weak is None else self.weak
        object.__setattr__(self, "ids", np.asarray(self.ids, dtype=np.int64))
        object.__setattr__(self, "photos", np.asarray(self.photos, dtype=np.int64))
        object.__setattr__(self, "vectors", np.ascontiguousarray(vectors))
        object.__setattr__(self, "persons", np.asarray(persons, dtype=np.int64))
        object.__setattr__(self, "locked", np.asarray(locked, dtype=bool))
        object.__setattr__(self, "weak", np.asarray(weak, dtype=bool))
        arrays = (self.photos, self.persons, self.locked, self.weak, vectors)
        if {len(a) for a in arrays} != {n}:
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
            np.concatenate([p.weak for p in parts]),
        )

    def subset(self, rows: np.ndarray) -> FaceSet:
        """The faces at the given row positions (or boolean mask)."""
        return FaceSet(
            self.ids[rows],
            self.photos[rows],
            self.vectors[rows],
            self.persons[rows],
            self.locked[rows],
            self.weak[rows],
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
    pool = FaceSet(faces.ids, faces.photos, faces.vectors, anchors, faces.locked, faces.weak)
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
    paired = np.zeros(len(pool), bool)
    for k, row in enumerate(pending):
        rows, dist = near[k]
        same_photo = pool.photos[rows] == pool.photos[row]
        twinned = bool(np.any(same_photo & (rows != row)))
        near[k] = (rows[~same_photo], dist[~same_photo])
        crowded = len(np.unique(pool.photos[near[k][0]])) >= min_photos
        paired[row] = bool(np.any(near[k][1] <= settings.face_pair_distance))
        core[row] = not twinned and not pool.weak[row] and (crowded or paired[row])

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
        rows, dist = near[k]
        nodes = [node_of(int(r)) for r in rows]
        roots = [None if nb is None else comps.find(nb) for nb in nodes]
        for dd, root in zip(dist, roots, strict=True):
            if root is None:
                continue
            if pool.weak[row]:  # only on a core face's evidence: that person's photos near
                theirs = pool.photos[rows[[x == root for x in roots]]]
                if not _sure_enough(dd, theirs, settings):
                    continue
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

    def big_enough(rows: list[int]) -> bool:
        return len(rows) >= min_photos + 1 or (len(rows) >= 2 and bool(paired[rows].any()))

    for root, rows in members.items():
        person = comps.person[root]
        ids = [int(pool.ids[r]) for r in rows]
        if person != NO_PERSON:
            joined.update(dict.fromkeys(ids, person))
        elif big_enough(rows):
            new_people.append(tuple(sorted(ids)))
        else:
            unassigned.extend(ids)  # too small to be somebody yet
    placed = set(joined) | {i for group in new_people for i in group} | set(unassigned)
    unassigned.extend(int(pool.ids[r]) for r in pending if int(pool.ids[r]) not in placed)
    new_people.sort(key=lambda g: (-len(g), g))

    # How close each placed face is to the rest of its person (search ranks by it).
    group_of: dict[int, Any] = {}
    for root, rows in members.items():
        if comps.person[root] != NO_PERSON or big_enough(rows):
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

    Nearest first; at most one face per photo, and none from a photo the person is already in;
    a weak candidate only on the evidence a core face needs (`_sure_enough`).
    """
    if not len(person) or not len(candidates):
        return {}
    near = neighbours(candidates.vectors, person.vectors, settings.face_max_distance)
    taken = set(person.photos.tolist())
    options = sorted(
        (float(dist[0]), int(candidates.ids[k]), int(candidates.photos[k]))
        for k, (rows, dist) in enumerate(near)
        if len(dist)
        and (not candidates.weak[k] or _sure_enough(dist[0], person.photos[rows], settings))
    )
    joined: dict[int, float] = {}
    for dist, face_id, photo in options:
        if photo not in taken:
            taken.add(photo)
            joined[face_id] = dist
    return joined


def _sure_enough(nearest: float, photos: np.ndarray, settings: Settings) -> bool:
    """Whether a weak face may join a person: its nearest face of that person lies within
    `face_pair_distance`, or that person's faces within reach (`photos`: their photo ids)
    come from at least `face_core_neighbours` photos: the evidence a core face needs."""
    return nearest <= settings.face_pair_distance or (
        len(np.unique(photos)) >= settings.face_core_neighbours
    )


def weak_faces(
    scores: np.ndarray,
    landmarks: np.ndarray,
    settings: Settings,
    sizes: np.ndarray | None = None,
) -> np.ndarray:
    """Which faces are weak: scored below `face_sure_score` by the detector, found without
    landmarks (NaN), turned away from the camera (the nose further than `face_max_turn`
    eye distances from the eyes' middle along the eye line; about 0.4 at a 35-40 degree
    turn), or smaller than `face_min_size` (found by the finer look in a crowd: few pixels
    make a less sure vector).

    `scores`: (n,); `landmarks`: (n, 5, 2) in MTCNN's order (eyes, nose, mouth corners);
    `sizes`: (n,) the box's shorter side in the photo, px (None: not judged by size).
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    points = np.asarray(landmarks, dtype=np.float64).reshape(len(scores), 5, 2)
    eyes = points[:, 1] - points[:, 0]
    eye_dist = np.linalg.norm(eyes, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        along = eyes / eye_dist[:, None]
        nose = points[:, 2] - (points[:, 0] + points[:, 1]) / 2
        turn = np.abs((nose * along).sum(axis=1)) / eye_dist
    unknown = ~np.isfinite(turn)  # no landmarks, or eyes on one point
    small = (
        np.zeros(len(scores), bool) if sizes is None else np.asarray(sizes) < settings.face_min_size
    )
    return (scores < settings.face_sure_score) | unknown | (turn > settings.face_max_turn) | small
