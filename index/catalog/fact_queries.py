"""What questions about the library ask the catalog: first and last dates, years and months,
places, and who appears with whom, over a selection of photos.

A selection is an array of photo ids (what a query's people, dates and places leave), or
None for every readable photo; every figure is exact.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from index.capture_dates import UNCERTAIN
from index.catalog.store import CatalogStore

_DATED = "p.status='ok' AND p.taken_at IS NOT NULL"


class FactQueries(CatalogStore):
    """Counts and spans over a selection of photos (None: the whole library)."""

    def _over(
        self, select: str, where: str, ids: np.ndarray | None, id_col: str, tail: str = ""
    ) -> list[tuple]:
        """Rows of `select WHERE where tail` for the whole library, or for the photos `ids`
        (passed as one JSON array: no chunks, no limit on the parameters of a statement)."""
        if ids is None:
            return self._tuples(f"{select} WHERE {where}{tail}", ())
        chosen = f"{id_col} IN (SELECT value FROM json_each(?))"
        return self._tuples(f"{select} WHERE {where} AND {chosen}{tail}", (_json_ids(ids),))

    def photo_count(self) -> int:
        """Readable photos in the library."""
        return self._tuples("SELECT count(*) FROM photos WHERE status='ok'", ())[0][0]

    def any_photo(self) -> bool:
        """Whether the library holds a readable photo (cheaper than counting them)."""
        return bool(self._tuples("SELECT 1 FROM photos WHERE status='ok' LIMIT 1", ()))

    def date_ends(self, ids: np.ndarray | None) -> tuple[tuple, tuple] | None:
        """The (first, last) dated photos of a selection, each (id, taken_at, taken_source);
        None when no photo of it has a date."""
        ends = []
        for order, pick in (("ASC", min), ("DESC", max)):
            rows = self._over(
                "SELECT p.id, p.taken_at, p.taken_source FROM photos p",
                _DATED,
                ids,
                "p.id",
                f" ORDER BY p.taken_at {order}, p.id LIMIT 1",
            )
            if not rows:
                return None
            ends.append(pick(rows, key=lambda r: r[1]))
        return ends[0], ends[1]

    def periods(self, ids: np.ndarray | None, month: bool = False) -> list[tuple[str, int, int]]:
        """(year or "YYYY-MM", photos, of which dated only by their file's time), in order."""
        width = 7 if month else 4
        rows = self._over(
            f"SELECT substr(p.taken_at, 1, {width}) k, count(*), "
            f"sum(p.taken_source = '{UNCERTAIN}') FROM photos p",
            _DATED,
            ids,
            "p.id",
            " GROUP BY k",
        )
        total: Counter[str] = Counter()
        unsure: Counter[str] = Counter()
        for key, n, file_dated in rows:
            total[key] += n
            unsure[key] += file_dated or 0
        return [(k, total[k], unsure[k]) for k in sorted(total)]

    def place_counts(self, ids: np.ndarray | None) -> list[tuple[str, int]]:
        """Places of a selection with their photo counts, most photos first."""
        rows = self._over(
            "SELECT p.place, count(*) FROM photos p",
            "p.status='ok' AND p.place IS NOT NULL",
            ids,
            "p.id",
            " GROUP BY p.place",
        )
        return _most_first(rows)

    def people_counts(self, ids: np.ndarray | None) -> list[tuple[int, int]]:
        """(person id, photos of the selection they are in), most photos first."""
        rows = self._over(
            "SELECT f.person_id, count(DISTINCT f.photo_id) FROM faces f",
            "f.person_id IS NOT NULL",
            ids,
            "f.photo_id",
            " GROUP BY f.person_id",
        )
        return _most_first(rows)


def _most_first(rows: list[tuple]) -> list[tuple]:
    """(key, count) rows of several chunks summed per key, most first, then by key."""
    counts: Counter = Counter()
    for key, n in rows:
        counts[key] += n
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _json_ids(ids: np.ndarray) -> str:
    return json.dumps([int(i) for i in ids])
