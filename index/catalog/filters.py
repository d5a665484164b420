"""What search asks the catalog: candidate photos by people, dates and places; faces of hits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from index.catalog.store import (
    CatalogStore,
    chunks,
    int_column,
    placeholders,
)
from index.types import Face


class FilterQueries(CatalogStore):
    """The queries of a search: people, dates and places to candidate photos."""

    # --- search filters ---

    def person_display_names(self, ids: Iterable[int]) -> dict[int, str | None]:
        """Names of existing people by id (None for an unnamed cluster); missing ids are left out."""
        ids = list(ids)
        out: dict[int, str | None] = {}
        for chunk in chunks(ids, 900):
            sql = f"SELECT id, name FROM people WHERE id IN ({placeholders(chunk)})"
            for row in self.conn.execute(sql, chunk):
                out[int(row[0])] = row[1]
        return out

    def matching_places(self, names: Iterable[str]) -> list[str]:
        """Stored places with any of `names` as a whole part: "Paris" and "France" both match
        "Paris, France"; "Paris" does not match "Parisville". Case-insensitive (Unicode)."""
        wanted = {n.strip().casefold() for n in names if n.strip()}
        rows = self.conn.execute("SELECT DISTINCT place FROM photos WHERE place IS NOT NULL")
        out = []
        for (place,) in rows:
            parts = {p.strip().casefold() for p in place.split(",")}
            if place.casefold() in wanted or parts & wanted:
                out.append(place)
        return out

    def filter_photos(
        self,
        all_of: Sequence[int] = (),
        any_of: Sequence[int] = (),
        none_of: Sequence[int] = (),
        only: bool = False,
        start: str | None = None,
        end: str | None = None,
        places: Sequence[str] | None = None,
        stranger_size: float = 0.5,
        newest_first: bool = True,
    ) -> np.ndarray:
        """Ids of photos passing every filter, each once; newest first (undated last) unless
        `newest_first` is False (then in no particular order, and faster).

        People: a face of each `all_of` person, of at least one `any_of` person, of no
        `none_of` person. `only`: no face of any other person (named or an unnamed cluster),
        and no unassigned face at least `stranger_size` times as wide as the narrowest wanted
        face (background strangers are allowed; a second subject is not). Dates compare
        `taken_at` ISO text in [start, end); `places` are exact stored place names.
        """
        args: list = []
        sets = []
        # Start from the faces of the wanted people (faces_person index), not from every photo.
        for pid in all_of:
            sets.append("SELECT photo_id FROM faces WHERE person_id=?")
            args.append(pid)
        if any_of:
            sets.append(f"SELECT photo_id FROM faces WHERE person_id IN ({placeholders(any_of)})")
            args += list(any_of)
        if len(sets) == 1:  # INTERSECT removes duplicates (two faces of one person); one set must
            sets[0] = sets[0].replace("SELECT ", "SELECT DISTINCT ", 1)
        dated = start is not None or end is not None
        # Faces exist only for readable photos (upsert_photo drops a changed photo's faces),
        # so a people-only filter need not visit the photos table unless it sorts by date.
        photo_columns = not sets or newest_first or dated or places is not None
        if not sets:
            sql, pid_col = "SELECT p.id FROM photos p", "p.id"
        elif photo_columns:
            sql = f"SELECT p.id FROM photos p JOIN ({' INTERSECT '.join(sets)}) c ON c.photo_id = p.id"
            pid_col = "p.id"
        else:
            sql, pid_col = f"SELECT c.photo_id FROM ({' INTERSECT '.join(sets)}) c", "c.photo_id"
        where = ["p.status='ok'"] if photo_columns else []
        if none_of:
            where.append(
                f"NOT EXISTS (SELECT 1 FROM faces f WHERE f.photo_id={pid_col} "
                f"AND f.person_id IN ({placeholders(none_of)}))"
            )
            args += list(none_of)
        wanted = list(all_of) + list(any_of)
        if only and wanted:
            marks = placeholders(wanted)
            where.append(
                f"NOT EXISTS (SELECT 1 FROM faces f WHERE f.photo_id={pid_col} AND ("
                f"(f.person_id IS NOT NULL AND f.person_id NOT IN ({marks})) OR "
                "(f.person_id IS NULL AND f.x2 - f.x1 >= ? * (SELECT min(w.x2 - w.x1) "
                f"FROM faces w WHERE w.photo_id={pid_col} AND w.person_id IN ({marks})))))"
            )
            args += wanted + [stranger_size] + wanted
        if start is not None:
            where.append("p.taken_at >= ?")
            args.append(start)
        if end is not None:
            where.append("p.taken_at < ?")
            args.append(end)
        if places is not None:
            where.append(f"p.place IN ({placeholders(places)})" if places else "0")
            args += list(places)
        if where:
            sql += " WHERE " + " AND ".join(where)
        if newest_first:
            sql += " ORDER BY p.taken_at IS NULL, p.taken_at DESC, p.id DESC"
        return int_column(self._tuples(sql, args))

    def faces_of_people(self, person_ids: Sequence[int] | None) -> dict[str, np.ndarray]:
        """Every face assigned to these people (None: to anyone), as columns: face_id,
        photo_id, person_id, distance (0 when the user assigned it), score, width (face /
        photo width)."""
        where = (
            "f.person_id IS NOT NULL"
            if person_ids is None
            else f"f.person_id IN ({placeholders(person_ids)})"
        )
        rows = self._tuples(
            "SELECT f.id, f.photo_id, f.person_id, "
            "CASE WHEN f.source='user' THEN 0.0 ELSE coalesce(f.distance, 0.0) END, f.score, "
            "(f.x2 - f.x1) / max(coalesce(p.width, 0), f.x2, 1) FROM faces f "
            f"JOIN photos p ON p.id=f.photo_id WHERE {where}",
            list(person_ids or ()),
        )

        table = np.array(rows, dtype=np.float64).reshape(len(rows), 6)
        names = ["face_id", "photo_id", "person_id", "distance", "score", "width"]
        cols = {n: table[:, i] for i, n in enumerate(names)}
        return {n: c.astype(np.int64) if n.endswith("_id") else c for n, c in cols.items()}

    def photos_newest_first(self) -> np.ndarray:
        """Ids of every readable photo, newest first (undated last), as filter_photos orders."""
        return int_column(
            self._tuples(
                "SELECT id FROM photos WHERE status='ok' "
                "ORDER BY taken_at IS NULL, taken_at DESC, id DESC",
                (),
            )
        )

    def faces_in_photos(self, photo_ids: Iterable[int]) -> list[Face]:
        """Every face of these photos with its person's name, ordered by photo then left to right
        (without vectors or landmarks, which a result list does not need)."""
        out: list[Face] = []
        for chunk in chunks(list(photo_ids), 900):
            rows = self.conn.execute(
                "SELECT f.photo_id, f.id, f.idx, f.person_id, pe.name, f.source, f.distance, "
                "f.score, f.x1, f.y1, f.x2, f.y2, f.time_s FROM faces f "
                "LEFT JOIN people pe ON pe.id=f.person_id "
                f"WHERE f.photo_id IN ({placeholders(chunk)}) ORDER BY f.photo_id, f.idx, f.id",
                chunk,
            )
            for r in rows:
                out.append(
                    Face(
                        id=r[1],
                        photo_id=r[0],
                        idx=r[2],
                        box=(r[8], r[9], r[10], r[11]),
                        person_id=r[3],
                        person_name=r[4],
                        source=r[5],
                        distance=r[6],
                        score=r[7],
                        time_s=r[12],
                    )
                )
        return out
