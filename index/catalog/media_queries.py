"""Files that belong to a photo without being photos of their own (the RAW of a RAW+JPEG
pair, a Live Photo's clip), and counts by kind of file: every SQL statement about them."""

from __future__ import annotations

import os

from index.catalog.store import CatalogStore


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
