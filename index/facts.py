"""Questions about the library answered from the catalog: how many, when first and last,
which years and months, where, and who with, for the photos a query's filters leave.

`Facts` is built from the catalog and the searcher's `select` (a query's people, dates,
places and words to photo ids); every figure is counted, none estimated. A description
("at the beach") is not a filter here: the assistant answers such questions from a search.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from index.capture_dates import UNCERTAIN
from index.catalog import Catalog
from index.person_names import person_label
from index.types import DatedPhoto, Facts, Query

Select = Callable[[Query], tuple[np.ndarray | None, tuple[str, ...]]]
ASPECTS = frozenset({"when", "years", "months", "places", "people"})


class FactFinder:
    """Answers `Facts` for a query; holds the catalog and the searcher's `select`."""

    def __init__(self, catalog: Catalog, select: Select):
        self.catalog = catalog
        self.select = select

    def facts(self, query: Query, want: frozenset[str] = frozenset()) -> Facts:
        """The count of the query's photos, and the aspects asked for (`ASPECTS`)."""
        unknown = set(want) - ASPECTS
        if unknown:
            raise ValueError(f"unknown aspects {sorted(unknown)}; known: {sorted(ASPECTS)}")
        ids, notes = self.select(query)
        if ids is not None and len(ids) == 0:
            return Facts(0, notes)
        cat = self.catalog
        count = cat.photo_count() if ids is None else len(ids)
        first = last = None
        if "when" in want:
            ends = cat.date_ends(ids)
            if ends is not None:
                first, last = (DatedPhoto(r[0], r[1], r[2] == UNCERTAIN) for r in ends)
        periods = ()
        if "years" in want or "months" in want:
            periods = tuple(cat.periods(ids, month="months" in want))
        places = tuple(cat.place_counts(ids)) if "places" in want else ()
        people = ()
        if "people" in want:
            asked = {n.casefold() for n in (*query.people_all, *query.people_any)}
            counts = cat.people_counts(ids)
            names = cat.person_display_names([pid for pid, _ in counts])
            people = tuple(
                (names.get(pid) or person_label(pid), n)
                for pid, n in counts
                if names.get(pid) and names[pid].casefold() not in asked
            )
        return Facts(count, notes, first, last, periods, places, people)
