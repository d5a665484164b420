"""Who is in which photo, in memory: people-only searches without reading SQLite.

A people filter at a million photos reads a popular person's ~100k faces; from SQLite that
costs hundreds of milliseconds, from arrays a few. `PeopleIndex` holds every assigned face
as columns sorted by person, and every photo's place in newest-first order. It reloads when
the catalog's `generation.people` counter moved (kept by SQLite triggers on every change to
who is in which photo, from any writer) or photos were added or removed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from index.catalog import Catalog

_UNRANKED = np.iinfo(np.int64).max  # the rank of an id that is not a readable photo


class PeopleIndex:
    """person -> faces -> photos, as arrays; `current()` before use keeps it fresh."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._state: tuple[str, ...] | None = None
        self._lock = threading.Lock()
        self.faces: dict[str, np.ndarray] = {}
        self._starts = np.zeros(0, np.int64)  # where each person's faces begin
        self._people = np.zeros(0, np.int64)
        self._rank = np.zeros(0, np.int64)  # photo id -> position newest first

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
        self.faces = {k: np.ascontiguousarray(v[order]) for k, v in faces.items()}
        people, starts = np.unique(self.faces["person_id"], return_index=True)
        self._people, self._starts = people, starts
        newest = self.catalog.photos_newest_first()
        rank = np.full(int(newest.max(initial=0)) + 1, _UNRANKED, np.int64)
        rank[newest] = np.arange(len(newest))
        self._rank = rank

    def _span(self, person_id: int) -> slice:
        i = int(np.searchsorted(self._people, person_id))
        if i >= len(self._people) or self._people[i] != person_id:
            return slice(0, 0)
        end = self._starts[i + 1] if i + 1 < len(self._starts) else len(self.faces["person_id"])
        return slice(int(self._starts[i]), int(end))

    def photos_of(self, person_id: int) -> np.ndarray:
        """Ids of the photos a person is in (unsorted, each once)."""
        return np.unique(self.faces["photo_id"][self._span(person_id)])

    def faces_of(self, person_ids: Sequence[int]) -> dict[str, np.ndarray]:
        """The faces of these people, as `Catalog.faces_of_people` gives them."""
        spans = [self._span(p) for p in person_ids]
        return {k: np.concatenate([v[s] for s in spans]) for k, v in self.faces.items()}

    def photos(
        self,
        all_of: Sequence[int] = (),
        any_of: Sequence[int] = (),
        none_of: Sequence[int] = (),
        newest_first: bool = True,
    ) -> np.ndarray:
        """Photos with each `all_of` person, at least one `any_of`, none of `none_of`;
        newest first as `Catalog.filter_photos` orders them. At least one wanted person."""
        sets = [self.photos_of(p) for p in all_of]
        if any_of:
            sets.append(np.unique(np.concatenate([self.photos_of(p) for p in any_of])))
        if not sets:
            raise ValueError("PeopleIndex.photos needs at least one wanted person")
        found = sets[0]
        for other in sets[1:]:
            found = np.intersect1d(found, other, assume_unique=True)
        if none_of and len(found):
            unwanted = np.concatenate([self.photos_of(p) for p in none_of])
            found = found[~np.isin(found, unwanted)]
        inside = found < len(self._rank)
        found = found[inside][self._rank[found[inside]] != _UNRANKED]  # readable photos only
        if newest_first:
            found = found[np.argsort(self._rank[found], kind="stable")]
        return found.astype(np.int64)
