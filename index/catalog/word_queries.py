"""The catalog's words read in photos (OCR): stored, and found again through SQLite FTS5."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from index.catalog.store import (
    CatalogStore,
    chunks,
    placeholders,
)


class WordQueries(CatalogStore):
    """Words read in photos, and the photos whose words match a search."""

    # --- words read in photos ---

    def photos_without_text(self, model: str, root: str | None = None) -> list[dict]:
        """Readable photos (under `root`) whose words `model` has not read yet: id, path,
        path_raw, hash; oldest first, so a resumed pass continues where it stopped."""
        sql = (
            "SELECT p.id, p.path, p.path_raw, p.hash FROM photos p LEFT JOIN photo_text t "
            "ON t.photo_id=p.id AND t.model=? WHERE p.status='ok' AND t.photo_id IS NULL"
        )
        args: list = [model]
        if root is not None:
            prefix = root.rstrip("/") + "/"
            sql += " AND substr(p.path, 1, ?) = ?"
            args += [len(prefix), prefix]
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY p.id", args)]

    def put_text(
        self, photo_id: int, digest: str, model: str, lines: Sequence[dict], folded: str
    ) -> bool:
        """Replace a photo's lines of text (text, confidence, box; a video's: time_s) and its
        searchable `folded`
        text; False (nothing written) when the photo is gone or its content changed since."""
        cur = self.conn.execute(
            "INSERT OR REPLACE INTO photo_text(photo_id, model, read_at) "
            "SELECT id, ?, ? FROM photos WHERE id=? AND hash=? AND status='ok'",
            (model, time.time(), photo_id, digest),
        )
        if not cur.rowcount:
            return False
        self.conn.execute("DELETE FROM text_lines WHERE photo_id=?", (photo_id,))
        self.conn.execute("DELETE FROM text_search WHERE rowid=?", (photo_id,))
        self.conn.executemany(
            "INSERT INTO text_lines(photo_id, idx, text, confidence, x1, y1, x2, y2, time_s) "
            "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (photo_id, k, ln["text"], ln["confidence"], *ln["box"], ln.get("time_s"))
                for k, ln in enumerate(lines)
            ],
        )
        if folded:
            self.conn.execute(
                "INSERT INTO text_search(rowid, folded) VALUES(?, ?)", (photo_id, folded)
            )
        return True

    def photos_with_text(self, match: str) -> list[int]:
        """Ids of readable photos whose folded text matches an FTS5 `match`, best first."""
        rows = self._tuples(
            "SELECT s.rowid FROM text_search s JOIN photos p ON p.id=s.rowid "
            "WHERE text_search MATCH ? AND p.status='ok' ORDER BY s.rank",
            (match,),
        )
        return [int(r[0]) for r in rows]

    def text_lines(self, photo_ids: Iterable[int]) -> dict[int, list[dict]]:
        """Lines of text read in these photos, top to bottom: text, confidence, box, time_s
        (a video's: seconds into it where the line was read; else None)."""
        out: dict[int, list[dict]] = {}
        for chunk in chunks(list(photo_ids), 900):
            rows = self._tuples(
                "SELECT photo_id, text, confidence, x1, y1, x2, y2, time_s FROM text_lines "
                f"WHERE photo_id IN ({placeholders(chunk)}) ORDER BY photo_id, idx",
                chunk,
            )
            for r in rows:
                line = {
                    "text": r[1],
                    "confidence": r[2],
                    "box": (r[3], r[4], r[5], r[6]),
                    "time_s": r[7],
                }
                out.setdefault(r[0], []).append(line)
        return out

    def clear_text(self) -> None:
        """Forget every word read (the next words stage reads every photo again)."""
        with self.transaction():
            self.conn.execute("DELETE FROM photo_text")

    def text_counts(self, model: str) -> dict[str, int]:
        """Photos read by `model`, and how many of them hold some text."""
        q = self.conn.execute
        return {
            "read": q("SELECT count(*) FROM photo_text WHERE model=?", (model,)).fetchone()[0],
            "with_text": q("SELECT count(*) FROM text_search").fetchone()[0],
        }
