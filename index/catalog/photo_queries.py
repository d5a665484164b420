"""The catalog's photos and their CLIP vectors: every SQL statement about them."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import numpy as np

from index.catalog.store import (
    CatalogStore,
    backend_filter,
    blob_to_vec,
    chunks,
    id_vectors,
    like_escape,
    placeholders,
    vec_to_blob,
)
from index.types import Photo


def _backend_filter(backends: Sequence[str] | None) -> tuple[str, list[str]]:
    """An " AND v.backend IN (...)" clause and its arguments (nothing when None)."""
    return backend_filter(backends, "v")


class PhotoQueries(CatalogStore):
    """Photos (found, added, moved, removed) and their image vectors."""

    # --- photos ---

    def photo_by_path(self, path: str) -> Photo | None:
        """The photo stored under this exact path text."""
        row = self.conn.execute("SELECT * FROM photos WHERE path=?", (path,)).fetchone()
        return dict(row) if row else None  # type: ignore[return-value]

    def photo(self, photo_id: int) -> Photo | None:
        """The photo with this id."""
        row = self.conn.execute("SELECT * FROM photos WHERE id=?", (photo_id,)).fetchone()
        return dict(row) if row else None  # type: ignore[return-value]

    def photos(self, ids: Iterable[int]) -> dict[int, Photo]:
        """Photos by id, for a batch of ids."""
        ids = list(ids)
        out: dict[int, Photo] = {}
        for chunk in chunks(ids, 900):
            marks = placeholders(chunk)
            for row in self.conn.execute(f"SELECT * FROM photos WHERE id IN ({marks})", chunk):
                out[row["id"]] = dict(row)  # type: ignore[assignment]
        return out

    def photos_under(self, root: str) -> dict[str, Photo]:
        """Every photo whose path lies under the folder `root`, by path."""
        prefix = root.rstrip("/") + "/"
        rows = self.conn.execute(
            "SELECT * FROM photos WHERE substr(path, 1, ?) = ?", (len(prefix), prefix)
        )
        return {r["path"]: dict(r) for r in rows}  # type: ignore[misc]

    def photos_by_hash(self, digest: str) -> list[Photo]:
        """Photos with this content hash (a moved file keeps its hash)."""
        rows = self.conn.execute(
            "SELECT * FROM photos WHERE hash=? AND status='ok'", (digest,)
        ).fetchall()
        return [dict(r) for r in rows]  # type: ignore[misc]

    def find_photos(self, fragment: str, limit: int = 10) -> list[Photo]:
        """Photos whose path ends with `fragment` (a file name or a relative path)."""
        rows = self.conn.execute(
            "SELECT * FROM photos WHERE status='ok' AND (path=? OR path LIKE ? ESCAPE '\\') "
            "ORDER BY length(path) LIMIT ?",
            (fragment, "%/" + like_escape(fragment), limit),
        ).fetchall()
        return [dict(r) for r in rows]  # type: ignore[misc]

    def upsert_photo(self, row: dict) -> int:
        """Insert or replace the photo at row['path']; returns its id (kept on update)."""
        cols = [
            "path", "path_raw", "size", "mtime_ns", "hash", "width", "height", "taken_at",
            "taken_source", "lat", "lon", "place", "status", "error", "clip_start", "clip_end",
            "kind", "duration_s", "ctime_ns",
        ]  # fmt: skip
        values = [row.get(c) for c in cols[:-3]] + [
            row.get("kind") or "photo",
            row.get("duration_s"),
            row.get("ctime_ns") or 0,
            time.time(),
        ]
        existing = self.conn.execute(
            "SELECT id FROM photos WHERE path=?", (row["path"],)
        ).fetchone()
        if existing:
            sets = ", ".join(f"{c}=?" for c in cols) + ", indexed_at=?, faces_model=NULL"
            self.conn.execute(f"UPDATE photos SET {sets} WHERE id=?", values + [existing[0]])
            # The content changed: its old vectors and faces describe another picture.
            self.conn.execute("DELETE FROM image_vectors WHERE photo_id=?", (existing[0],))
            self.conn.execute("DELETE FROM faces WHERE photo_id=?", (existing[0],))
            self.conn.execute("DELETE FROM photo_text WHERE photo_id=?", (existing[0],))
            self.conn.execute("DELETE FROM moments WHERE photo_id=?", (existing[0],))
            return int(existing[0])
        marks = ",".join("?" * (len(cols) + 1))
        cur = self.conn.execute(
            f"INSERT INTO photos({', '.join(cols)}, indexed_at) VALUES({marks})", values
        )
        return int(cur.lastrowid)

    def move_photo(
        self, photo_id: int, path: str, path_raw: bytes, mtime_ns: int, ctime_ns: int = 0
    ) -> None:
        """Give a photo a new path (renamed or moved), keeping its vectors and faces."""
        self.conn.execute(
            "UPDATE photos SET path=?, path_raw=?, mtime_ns=?, ctime_ns=? WHERE id=?",
            (path, path_raw, mtime_ns, ctime_ns, photo_id),
        )

    def touch_photo(self, photo_id: int, mtime_ns: int, ctime_ns: int = 0) -> None:
        """Record new file times for a file whose content did not change."""
        self.conn.execute(
            "UPDATE photos SET mtime_ns=?, ctime_ns=? WHERE id=?", (mtime_ns, ctime_ns, photo_id)
        )

    def set_photo_date(self, photo_id: int, taken_at: str | None, source: str) -> None:
        """Record a photo's capture time and where it came from (exif, xmp, filename, ...)."""
        self.conn.execute(
            "UPDATE photos SET taken_at=?, taken_source=? WHERE id=?", (taken_at, source, photo_id)
        )

    def delete_photos(self, ids: Sequence[int]) -> None:
        """Remove photos (their vectors and faces go with them)."""
        for chunk in chunks(list(ids), 900):
            marks = placeholders(chunk)
            self.conn.execute(f"DELETE FROM photos WHERE id IN ({marks})", chunk)

    def counts(self) -> dict[str, int]:
        """Photos, skipped files, image vectors, faces and people."""
        q = self.conn.execute
        return {
            "photos": q(
                "SELECT count(*) FROM photos WHERE status='ok' AND kind='photo'"
            ).fetchone()[0],
            "videos": q(
                "SELECT count(*) FROM photos WHERE status='ok' AND kind='video'"
            ).fetchone()[0],
            "skipped": q("SELECT count(*) FROM photos WHERE status!='ok'").fetchone()[0],
            "vectors": q("SELECT count(*) FROM image_vectors").fetchone()[0],
            "faces": q("SELECT count(*) FROM faces").fetchone()[0],
            "people": q("SELECT count(*) FROM people WHERE name IS NOT NULL").fetchone()[0],
            "clusters": q("SELECT count(*) FROM people WHERE name IS NULL").fetchone()[0],
        }

    def skipped(self) -> list[tuple[str, str]]:
        """(path, reason) of every skipped file."""
        rows = self.conn.execute(
            "SELECT path, error FROM photos WHERE status!='ok' ORDER BY path"
        ).fetchall()
        return [(r[0], r[1] or "") for r in rows]

    def places(self) -> list[str]:
        """Distinct place names of photos, most photos first."""
        rows = self.conn.execute(
            "SELECT place, count(*) n FROM photos WHERE place IS NOT NULL AND status='ok' "
            "GROUP BY place ORDER BY n DESC"
        ).fetchall()
        return [r[0] for r in rows]

    def years(self) -> list[int]:
        """Years with photos, most photos first."""
        rows = self.conn.execute(
            "SELECT substr(taken_at, 1, 4) y, count(*) n FROM photos "
            "WHERE taken_at IS NOT NULL AND status='ok' GROUP BY y ORDER BY n DESC"
        ).fetchall()
        return [int(r[0]) for r in rows if r[0] and r[0].isdigit()]

    # --- image vectors ---

    def put_image_vector(
        self, photo_id: int, model: str, vec: np.ndarray, backend: str = "torch"
    ) -> None:
        """Store (or replace) the CLIP vector of a photo, and which backend computed it."""
        self.conn.execute(
            "INSERT INTO image_vectors(photo_id, model, vector, backend) VALUES(?, ?, ?, ?) "
            "ON CONFLICT(photo_id) DO UPDATE SET model=excluded.model, vector=excluded.vector, "
            "backend=excluded.backend",
            (photo_id, model, vec_to_blob(vec), backend),
        )

    def image_vectors(
        self, model: str, backends: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64, vectors float32 (n, d)) of every photo embedded with `model` (and one
        of `backends`, when given: vectors of other backends are left out)."""
        where, args = _backend_filter(backends)
        rows = self.conn.execute(
            "SELECT v.photo_id, v.vector FROM image_vectors v JOIN photos p ON p.id=v.photo_id "
            f"WHERE v.model=? AND p.status='ok'{where} ORDER BY v.photo_id",
            (model, *args),
        ).fetchall()
        return id_vectors(rows)

    def image_vector(self, photo_id: int, model: str) -> np.ndarray | None:
        """The stored CLIP vector of one photo, if it has one for `model`."""
        row = self.conn.execute(
            "SELECT vector FROM image_vectors WHERE photo_id=? AND model=?", (photo_id, model)
        ).fetchone()
        return blob_to_vec(row[0]).copy() if row else None

    def photos_missing_vectors(
        self, model: str, root: str | None = None, backends: Sequence[str] | None = None
    ) -> list[Photo]:
        """Photos that have no vector from `model` (e.g. indexed while it was unavailable),
        or only one made by a backend outside `backends`."""
        where, args = _backend_filter(backends)
        sql = (
            "SELECT p.* FROM photos p LEFT JOIN image_vectors v "
            f"ON v.photo_id=p.id AND v.model=?{where} "
            "WHERE p.status='ok' AND v.photo_id IS NULL"
        )
        args = [model, *args]
        if root is not None:
            prefix = root.rstrip("/") + "/"
            sql += " AND substr(p.path, 1, ?) = ?"
            args += [len(prefix), prefix]
        return [dict(r) for r in self.conn.execute(sql, args).fetchall()]  # type: ignore[misc]

    def vector_count(self, model: str, backends: Sequence[str] | None = None) -> int:
        """How many usable image vectors `model` produced (with one of `backends`)."""
        where, args = _backend_filter(backends)
        return self.conn.execute(
            "SELECT count(*) FROM image_vectors v JOIN photos p ON p.id=v.photo_id "
            f"WHERE v.model=? AND p.status='ok'{where}",
            (model, *args),
        ).fetchone()[0]

    def vector_backends(self, model: str) -> dict[str, int]:
        """How many image vectors of `model` each encoder backend made."""
        rows = self.conn.execute(
            "SELECT backend, count(*) FROM image_vectors WHERE model=? GROUP BY backend", (model,)
        )
        return {r[0]: r[1] for r in rows}

    def vector_models(self) -> dict[str, int]:
        """How many image vectors each model produced."""
        rows = self.conn.execute("SELECT model, count(*) FROM image_vectors GROUP BY model")
        return {r[0]: r[1] for r in rows}

    def delete_vectors_not_of(self, model: str) -> int:
        """Drop image vectors of any other model (before re-embedding with `model`)."""
        cur = self.conn.execute("DELETE FROM image_vectors WHERE model!=?", (model,))
        return cur.rowcount
