"""Who is in which photo, in memory: people-only searches without reading SQLite.

A people filter at a million photos reads a popular person's ~100k faces; from SQLite that
costs hundreds of milliseconds, from arrays a few. `PeopleIndex` holds every assigned face
as columns sorted by person, and every photo's place in newest-first order. It reloads when
the catalog's `generation.people` counter moved (kept by SQLite triggers on every change to
who is in which photo, from any writer) or photos were added or removed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from index.catalog import Catalog

_UNRANKED = np.iinfo(np.int64).max  # the rank of an id that is not a readable photo


@dataclass(frozen=True)
class _Snapshot:
    """One consistent load: replaced whole, so a reader never sees half of a reload."""

    faces: dict[str, np.ndarray]  # columns of every assigned face, sorted by person
    people: np.ndarray  # each person with faces, ascending
    starts: np.ndarray  # where each person's faces begin
    rank: np.ndarray  # photo id -> position newest first (_UNRANKED: not a readable photo)
    memo: dict = field(default_factory=dict)  # what users derived from this load (see `memo`)


_EMPTY = _Snapshot({}, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))


class PeopleIndex:
    """person -> faces -> photos, as arrays; `current()` before use keeps it fresh."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._state: tuple[str, ...] | None = None
        self._lock = threading.Lock()
        self._snap = _EMPTY

    def current(self) -> PeopleIndex:
        """Reload when people or photos changed since the last load; cheap when they did not."""
        state = tuple(
            self.catalog.meta(f"generation.{kind}", "0") or "0"
            for kind in ("people", "faces", "images")
        )
        if state != self._state:
            with self._lock:
                if state != self._state:
                    self._load()
                    self._state = state
        return self

    def _load(self) -> None:
        faces = self.catalog.faces_of_people(None)
        order = np.argsort(faces["person_id"], kind="stable")
        faces = {k: np.ascontiguousarray(v[order]) for k, v in faces.items()}
        people, starts = np.unique(faces["person_id"], return_index=True)
        newest = self.catalog.photos_newest_first()
        rank = np.full(int(newest.max(initial=0)) + 1, _UNRANKED, np.int64)
        rank[newest] = np.arange(len(newest))
        self._snap = _Snapshot(faces, people, starts, rank)

    def memo(self, key: str, compute: Callable[[PeopleIndex], Any]) -> Any:
        """`compute(self)`, kept until the next reload (e.g. every person's ranked photos)."""
        snap = self._snap
        if key not in snap.memo:
            snap.memo[key] = compute(self)
        return snap.memo[key]

    def assigned_faces(self) -> dict[str, np.ndarray]:
        """Every assigned face, as `faces_of` columns, sorted by person."""
        return self._snap.faces

    def ranks(self, photo_ids: np.ndarray) -> np.ndarray:
        """Each photo's position newest first (int64 max for one that is not readable)."""
        rank = self._snap.rank
        photo_ids = np.asarray(photo_ids, dtype=np.int64)
        out = np.full(len(photo_ids), _UNRANKED, np.int64)
        inside = photo_ids < len(rank)
        out[inside] = rank[photo_ids[inside]]
        return out

    @staticmethod
    def _span(snap: _Snapshot, person_id: int) -> slice:
        i = int(np.searchsorted(snap.people, person_id))
        if i >= len(snap.people) or snap.people[i] != person_id:
            return slice(0, 0)
        end = snap.starts[i + 1] if i + 1 < len(snap.starts) else len(snap.faces["person_id"])
        return slice(int(snap.starts[i]), int(end))

    def photos_of(self, person_id: int, snap: _Snapshot | None = None) -> np.ndarray:
        """Ids of the photos a person is in (unsorted, each once)."""
        snap = snap or self._snap
        if not snap.faces:
            return np.zeros(0, np.int64)
        return np.unique(snap.faces["photo_id"][self._span(snap, person_id)])

    def faces_of(self, person_ids: Sequence[int]) -> dict[str, np.ndarray]:
        """The faces of these people, as `Catalog.faces_of_people` gives them."""
        snap = self._snap
        if not snap.faces:
            return self.catalog.faces_of_people(list(person_ids))  # empty: its column shapes
        spans = [self._span(snap, p) for p in person_ids]
        return {k: np.concatenate([v[s] for s in spans]) for k, v in snap.faces.items()}

    def photos(
        self,
        all_of: Sequence[int] = (),
        any_of: Sequence[int] = (),
        none_of: Sequence[int] = (),
        newest_first: bool = True,
    ) -> np.ndarray:
        """Photos with each `all_of` person, at least one `any_of`, none of `none_of`;
        newest first as `Catalog.filter_photos` orders them. At least one wanted person."""
        snap = self._snap
        sets = [self.photos_of(p, snap) for p in all_of]
        if any_of:
            sets.append(np.unique(np.concatenate([self.photos_of(p, snap) for p in any_of])))
        if not sets:
            raise ValueError("PeopleIndex.photos needs at least one wanted person")
        found = sets[0]
        for other in sets[1:]:
            found = np.intersect1d(found, other, assume_unique=True)
        if none_of and len(found):
            unwanted = np.concatenate([self.photos_of(p, snap) for p in none_of])
            found = found[~np.isin(found, unwanted)]
        inside = found < len(snap.rank)
        found = found[inside][snap.rank[found[inside]] != _UNRANKED]  # readable photos only
        if newest_first:
            found = found[np.argsort(snap.rank[found], kind="stable")]
        return found.astype(np.int64)
