"""Files that belong to a photo without being photos of their own (the RAW of a RAW+JPEG
pair, a Live Photo's clip), and counts by kind of file: every SQL statement about them."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np

from index.catalog.store import (
    CatalogStore,
    backend_filter,
    blob_to_vec,
    chunks,
    id_vectors,
    placeholders,
    vec_to_blob,
)


class MediaQueries(CatalogStore):
    """Companion files of photos, and the library counted by format."""

    def set_companions(self, root: str, pairs: dict[str, list[tuple[str, str]]]) -> None:
        """Replace the companions of the photos under `root` with `pairs` (main photo path ->
        [(companion path, role)]); a main photo not catalogued keeps none."""
        prefix = root.rstrip("/") + "/"
        self.conn.execute(
            "DELETE FROM companions WHERE photo_id IN "
            "(SELECT id FROM photos WHERE substr(path, 1, ?) = ?)",
            (len(prefix), prefix),
        )
        for main, files in pairs.items():
            row = self.conn.execute(
                "SELECT id FROM photos WHERE path=? AND status='ok'", (main,)
            ).fetchone()
            if row is None:
                continue  # skipped or not indexed: its companions wait for it
            self.conn.executemany(
                "INSERT OR REPLACE INTO companions(photo_id, path, role) VALUES(?, ?, ?)",
                [(row[0], path, role) for path, role in files],
            )

    def companions(self, photo_id: int) -> list[dict]:
        """The companion files of one photo: [{"path", "role"}], by path."""
        rows = self.conn.execute(
            "SELECT path, role FROM companions WHERE photo_id=? ORDER BY path", (photo_id,)
        )
        return [{"path": r[0], "role": r[1]} for r in rows]

    def format_counts(self) -> dict[str, int]:
        """Catalogued photos by file extension (lower case, without the dot), and their
        companion files by role ("raw": RAWs paired with a JPEG)."""
        counts: dict[str, int] = {}
        for (path,) in self.conn.execute("SELECT path FROM photos WHERE status='ok'"):
            ext = os.path.splitext(path)[1].lower().lstrip(".") or "none"
            counts[ext] = counts.get(ext, 0) + 1
        for role, n in self.conn.execute("SELECT role, count(*) FROM companions GROUP BY role"):
            counts[f"{role} companions"] = n
        return dict(sorted(counts.items()))

    # --- what the duplicate finder compares ---

    def photos_without_looks(self) -> list[dict]:
        """Photos with no perceptual hash yet, or one made from content they no longer have:
        [{"id", "path", "path_raw", "hash"}]."""
        rows = self.conn.execute(
            "SELECT p.id, p.path, p.path_raw, p.hash FROM photos p "
            "LEFT JOIN photo_looks l ON l.photo_id=p.id "
            "WHERE p.status='ok' AND p.hash IS NOT NULL AND (l.photo_id IS NULL OR l.content!=p.hash) "
            "ORDER BY p.id"
        )
        return [dict(r) for r in rows]

    def put_look(self, photo_id: int, content: str, phash: int, sharpness: float) -> None:
        """Store the perceptual hash and sharpness of a photo (made from `content`)."""
        self.conn.execute(
            "INSERT OR REPLACE INTO photo_looks(photo_id, content, phash, sharpness) "
            "VALUES(?, ?, ?, ?)",
            (photo_id, content, f"{phash:016x}", sharpness),
        )

    def looks(self) -> list[dict]:
        """Every catalogued photo with a current perceptual hash, with what the duplicate
        finder weighs: {"id", "path", "hash", "phash" (int), "sharpness", "width", "height",
        "size", "taken_at", "taken_source", "named_faces"}."""
        rows = self.conn.execute(
            "SELECT p.id, p.path, p.hash, l.phash, l.sharpness, p.width, p.height, p.size, "
            "p.taken_at, p.taken_source, "
            "(SELECT count(*) FROM faces f JOIN people pe ON pe.id=f.person_id "
            " WHERE f.photo_id=p.id AND pe.name IS NOT NULL) AS named_faces "
            "FROM photos p JOIN photo_looks l ON l.photo_id=p.id AND l.content=p.hash "
            "WHERE p.status='ok' ORDER BY p.path"
        )
        return [{**dict(r), "phash": int(r["phash"], 16)} for r in rows]

    # --- a video's moments ---

    def put_moments(
        self,
        photo_id: int,
        model: str,
        backend: str,
        times: Sequence[float],
        vectors: np.ndarray,
    ) -> None:
        """Replace a video's moments: when each is (seconds) and its CLIP vector."""
        self.conn.execute("DELETE FROM moments WHERE photo_id=?", (photo_id,))
        self.conn.executemany(
            "INSERT INTO moments(photo_id, idx, time_s, model, backend, vector) "
            "VALUES(?, ?, ?, ?, ?, ?)",
            [
                (photo_id, k, float(t), model, backend, vec_to_blob(v))
                for k, (t, v) in enumerate(zip(times, vectors, strict=True))
            ],
        )

    def moment_vectors(
        self, model: str, backends: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(video ids, vectors) of every moment of `model` (a video's id once per moment)."""
        where, args = backend_filter(backends, "m")
        rows = self.conn.execute(
            "SELECT m.photo_id, m.vector FROM moments m JOIN photos p ON p.id=m.photo_id "
            f"WHERE m.model=? AND p.status='ok'{where} ORDER BY m.photo_id, m.idx",
            (model, *args),
        ).fetchall()
        return id_vectors(rows)

    def moment_count(self, model: str, backends: Sequence[str] | None = None) -> int:
        """How many moments `model` embedded (with one of `backends`)."""
        where, args = backend_filter(backends, "m")
        return self.conn.execute(
            "SELECT count(*) FROM moments m JOIN photos p ON p.id=m.photo_id "
            f"WHERE m.model=? AND p.status='ok'{where}",
            (model, *args),
        ).fetchone()[0]

    def moments(
        self, video_ids: Iterable[int], model: str
    ) -> dict[int, tuple[list[float], np.ndarray]]:
        """Each video's moments of `model`: (times, vectors), in time order."""
        ids = list(video_ids)
        out: dict[int, tuple[list[float], list]] = {}
        for chunk in chunks(ids, 900):
            rows = self.conn.execute(
                f"SELECT photo_id, time_s, vector FROM moments WHERE model=? AND photo_id IN "
                f"({placeholders(chunk)}) ORDER BY photo_id, idx",
                (model, *chunk),
            )
            for r in rows:
                times, vecs = out.setdefault(r[0], ([], []))
                times.append(r[1])
                vecs.append(blob_to_vec(r[2]))
        return {k: (t, np.stack(v)) for k, (t, v) in out.items()}

    def videos_missing_moments(
        self, model: str, root: str | None = None, backends: Sequence[str] | None = None
    ) -> list[int]:
        """Ids of the videos (under `root`) without moments of `model` (and `backends`)."""
        where, filter_args = backend_filter(backends, "m")
        args = [model, *filter_args]
        sql = (
            "SELECT p.id FROM photos p WHERE p.status='ok' AND p.kind='video' AND NOT EXISTS "
            f"(SELECT 1 FROM moments m WHERE m.photo_id=p.id AND m.model=?{where})"
        )
        if root is not None:
            prefix = root.rstrip("/") + "/"
            sql += " AND substr(p.path, 1, ?) = ?"
            args += [len(prefix), prefix]
        return [r[0] for r in self.conn.execute(sql, args)]

    def media_ids(
        self, kind: str | None, min_seconds: float | None = None, max_seconds: float | None = None
    ) -> np.ndarray:
        """Ids of the catalogued items of `kind` ("video", "photo"; None: both); a length
        bound keeps only videos that long."""
        where, args = ["status='ok'"], []
        if min_seconds is not None or max_seconds is not None:
            kind = "video"
        if kind is not None:
            where.append("kind=?")
            args.append(kind)
        if min_seconds is not None:
            where.append("duration_s >= ?")
            args.append(min_seconds)
        if max_seconds is not None:
            where.append("duration_s <= ?")
            args.append(max_seconds)
        rows = self.conn.execute(f"SELECT id FROM photos WHERE {' AND '.join(where)}", args)
        return np.fromiter((r[0] for r in rows), dtype=np.int64)
