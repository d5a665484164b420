"""The catalog: one SQLite file that is the truth about the library. All SQL lives here."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from index.errors import CatalogError
from index.storage import write_failed
from index.types import Face, Person, Photo

CATALOG_NAME = "catalog.sqlite"
SQLITE_MAGIC = b"SQLite format 3\x00"
# Files a data dir holds once it has indexed something: with these and no catalog, the
# catalog was lost, and an empty new one would silently look like an empty library.
LIBRARY_TRACES = ("thumbs", "people.json", "images.faiss", "faces")


PhotoRow = Photo  # the name callers have used


# Each step upgrades the schema by one version; never edit a step that has shipped.
MIGRATIONS: list[str] = [
    # 1: photos, image vectors, models, faces, people
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE photos (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        path_raw BLOB NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        hash TEXT,
        width INTEGER,
        height INTEGER,
        taken_at TEXT,
        taken_source TEXT,
        lat REAL,
        lon REAL,
        place TEXT,
        status TEXT NOT NULL DEFAULT 'ok',
        error TEXT,
        faces_model TEXT,
        indexed_at REAL NOT NULL
    );
    CREATE INDEX photos_hash ON photos(hash);
    CREATE INDEX photos_taken ON photos(taken_at);
    CREATE INDEX photos_place ON photos(place);
    CREATE TABLE image_vectors (
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        vector BLOB NOT NULL
    );
    CREATE TABLE models (
        kind TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        dim INTEGER,
        recorded_at REAL NOT NULL
    );
    CREATE TABLE people (
        id INTEGER PRIMARY KEY,
        name TEXT UNIQUE COLLATE NOCASE,
        created_at REAL NOT NULL
    );
    CREATE TABLE aliases (
        alias TEXT PRIMARY KEY COLLATE NOCASE,
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE
    );
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
        landmarks TEXT,
        score REAL NOT NULL,
        model TEXT NOT NULL,
        vector BLOB NOT NULL,
        person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
        source TEXT NOT NULL DEFAULT 'auto',  -- 'auto' (clustering) or 'user'
        distance REAL  -- to its person when assigned (0 for the user's own choice)
    );
    CREATE INDEX faces_photo ON faces(photo_id);
    CREATE INDEX faces_person ON faces(person_id);
    CREATE TABLE face_rejections (
        face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        PRIMARY KEY (face_id, person_id)
    );
    """,
    # 2: people filters read (person, photo) pairs straight from an index
    """
    CREATE INDEX faces_person_photo ON faces(person_id, photo_id);
    """,
    # 3: which encoder backend made each image vector (torch, onnxruntime-fp32, ...-int8)
    """
    ALTER TABLE image_vectors ADD COLUMN backend TEXT NOT NULL DEFAULT 'torch';
    """,
    # 4: the inode change time, so a skipped file made readable again (chmod) is retried;
    # every date says where it came from (exif, xmp, filename, folder or file)
    """
    ALTER TABLE photos ADD COLUMN ctime_ns INTEGER NOT NULL DEFAULT 0;
    UPDATE photos SET taken_source='file' WHERE taken_at IS NOT NULL AND taken_source IS NULL;
    """,
    # 5: words read in photos (OCR): lines with boxes, and a full-text index of each photo
    """
    CREATE TABLE photo_text (
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        read_at REAL NOT NULL
    );
    CREATE TABLE text_lines (
        id INTEGER PRIMARY KEY,
        photo_id INTEGER NOT NULL REFERENCES photo_text(photo_id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        text TEXT NOT NULL,
        confidence REAL NOT NULL,
        x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL
    );
    CREATE INDEX text_lines_photo ON text_lines(photo_id);
    -- rowid = photo id; `folded` is the photo's text after index.words.fold
    CREATE VIRTUAL TABLE text_search USING fts5(folded, tokenize='unicode61');
    CREATE TRIGGER photo_text_gone AFTER DELETE ON photo_text BEGIN
        DELETE FROM text_search WHERE rowid=old.photo_id;
    END;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def path_text(path: Path | str) -> str:
    """A path as catalog text; undecodable bytes become backslash escapes (display and key)."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", errors="backslashreplace")


def vec_to_blob(vec: np.ndarray) -> bytes:
    """Float32 bytes of a vector."""
    return np.asarray(vec, dtype=np.float32).tobytes()


def blob_to_vec(blob: bytes) -> np.ndarray:
    """The vector stored by `vec_to_blob`."""
    return np.frombuffer(blob, dtype=np.float32)


class Catalog:
    """The SQLite catalog of one data dir: schema, migrations and every query."""

    def __init__(self, data_dir: Path, read_only: bool = False, rebuild: bool = False):
        """Open (or create) the catalog of `data_dir`.

        A damaged catalog is refused with `CatalogError`. A missing one where the data dir
        shows a library existed is refused too, unless `rebuild` (indexing makes it anew; then
        `self.rebuilt` says what was found instead).
        """
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / CATALOG_NAME
        self.read_only = read_only
        self.rebuilt: list[str] = []  # traces of a lost catalog, when it was made anew
        self._check_file(rebuild)
        self.conn = self._connect()
        self._ensure_version()

    # --- opening and schema ---

    def _check_file(self, rebuild: bool) -> None:
        """Refuse a damaged catalog, and a lost one unless rebuilding, before SQLite sees it."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = None
        except OSError as err:
            raise CatalogError(f"Cannot read the catalog {self.path}: {err.strerror}.") from err
        if size:
            problem = _header_problem(self.path, size)
            if problem:
                raise CatalogError(damaged_message(self.path, problem))
            return
        traces = library_traces(self.data_dir)
        if not traces:
            return  # a new library
        state = "missing" if size is None else "empty (0 bytes)"
        if not rebuild:
            raise CatalogError(
                f"The catalog {self.path} is {state}, but {self.data_dir} held a library "
                f"({', '.join(traces)} are there). Nothing was recreated. If the catalog was "
                "moved, put it back; to rebuild it, run `python app.py index FOLDER` (people's "
                "names come back from people.json)."
            )
        self.rebuilt = traces
        if size == 0:
            self.path.unlink()  # SQLite would take a 0-byte file as a new empty database

    def _connect(self) -> sqlite3.Connection:
        try:
            if self.read_only:
                if not self.path.exists():
                    raise CatalogError(
                        f"No library at {self.data_dir}: run `python app.py index FOLDER` first."
                    )
                conn = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, check_same_thread=False
                )
            else:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            return conn
        except PermissionError as err:
            raise CatalogError(
                f"Cannot write the library's data dir {self.data_dir}: permission denied. "
                "Choose a writable folder with --data DIR or PIR_DATA."
            ) from err
        except sqlite3.OperationalError as err:
            if _is_write_error(err):
                raise write_failed(self.path, err) from err
            raise CatalogError(
                f"Cannot open the catalog {self.path}: {err}. "
                "Choose a writable folder with --data DIR or PIR_DATA."
            ) from err
        except sqlite3.DatabaseError as err:
            raise CatalogError(damaged_message(self.path, str(err))) from err
        except OSError as err:
            raise CatalogError(
                f"Cannot open the catalog {self.path}: {err}. "
                "Choose a writable folder with --data DIR or PIR_DATA."
            ) from err

    def _version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _ensure_version(self) -> None:
        """Upgrade step by step; refuse a catalog written by a newer program."""
        try:
            version = self._version()
            # Reading the schema touches the first page, where the table list lives.
            self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as err:
            raise CatalogError(damaged_message(self.path, str(err))) from err
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"The catalog {self.path} was written by a newer version of this program "
                f"(schema {version}, this program knows up to {SCHEMA_VERSION}). "
                "Upgrade the program, or use another --data dir."
            )
        if version == SCHEMA_VERSION:
            return
        if self.read_only:
            raise CatalogError(f"The catalog {self.path} needs an upgrade; open it writable once.")
        for step in range(version, SCHEMA_VERSION):
            try:
                with self.conn:
                    self.conn.executescript("BEGIN;" + MIGRATIONS[step])
                    self.conn.execute(f"PRAGMA user_version = {step + 1}")
            except sqlite3.OperationalError as err:
                if _is_write_error(err):
                    raise write_failed(self.path, err) from err
                raise CatalogError(
                    f"Cannot write the catalog {self.path}: {err}. "
                    "Choose a writable folder with --data DIR or PIR_DATA."
                ) from err
            except sqlite3.DatabaseError as err:
                raise CatalogError(damaged_message(self.path, str(err))) from err

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work: everything inside commits together or not at all."""
        if self.read_only:
            raise CatalogError("This library is open read-only; changes are not allowed.")
        try:
            with self.conn:
                yield self.conn
        except sqlite3.OperationalError as err:
            if _is_write_error(err):  # rolled back: the next run does this work again
                raise write_failed(self.path, err) from err
            raise
        except sqlite3.DatabaseError as err:
            raise CatalogError(damaged_message(self.path, str(err))) from err

    def verify(self) -> None:
        """Read every page once (PRAGMA quick_check): refuse a damaged catalog before serving
        it or writing more into it. Seconds on a large library, so not on every command."""
        try:
            rows = self.conn.execute("PRAGMA quick_check(5)").fetchall()
        except sqlite3.DatabaseError as err:
            raise CatalogError(damaged_message(self.path, str(err))) from err
        problems = [r[0] for r in rows if r[0] != "ok"]
        if problems:
            raise CatalogError(damaged_message(self.path, "; ".join(problems)))

    # --- meta and models ---

    def meta(self, key: str, default: str | None = None) -> str | None:
        """A value from the meta table."""
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        """Store a meta value (inside the caller's transaction if any)."""
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def generation(self, kind: str) -> int:
        """A counter bumped on every change to one kind of vectors ('images', 'faces')."""
        return int(self.meta(f"generation.{kind}", "0") or 0)

    def bump_generation(self, kind: str) -> None:
        """Mark the vectors of `kind` as changed, so saved FAISS indexes go stale."""
        self.set_meta(f"generation.{kind}", str(self.generation(kind) + 1))

    def model(self, kind: str) -> dict | None:
        """The model recorded for 'clip' or 'face' vectors: {spec, dim}."""
        row = self.conn.execute("SELECT spec, dim FROM models WHERE kind=?", (kind,)).fetchone()
        return dict(row) if row else None

    def record_model(self, kind: str, spec: str, dim: int | None) -> None:
        """Record which model produces the vectors of `kind`."""
        self.conn.execute(
            "INSERT INTO models(kind, spec, dim, recorded_at) VALUES(?, ?, ?, ?) "
            "ON CONFLICT(kind) DO UPDATE SET spec=excluded.spec, dim=excluded.dim, "
            "recorded_at=excluded.recorded_at",
            (kind, spec, dim, time.time()),
        )

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
        for chunk in _chunks(ids, 900):
            marks = _marks(chunk)
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
            (fragment, "%/" + _like_escape(fragment), limit),
        ).fetchall()
        return [dict(r) for r in rows]  # type: ignore[misc]

    def upsert_photo(self, row: dict) -> int:
        """Insert or replace the photo at row['path']; returns its id (kept on update)."""
        cols = [
            "path", "path_raw", "size", "mtime_ns", "hash", "width", "height", "taken_at",
            "taken_source", "lat", "lon", "place", "status", "error", "ctime_ns",
        ]  # fmt: skip
        values = [row.get(c) for c in cols[:-1]] + [row.get("ctime_ns") or 0, time.time()]
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
        for chunk in _chunks(list(ids), 900):
            marks = _marks(chunk)
            self.conn.execute(f"DELETE FROM photos WHERE id IN ({marks})", chunk)

    def counts(self) -> dict[str, int]:
        """Photos, skipped files, image vectors, faces and people."""
        q = self.conn.execute
        return {
            "photos": q("SELECT count(*) FROM photos WHERE status='ok'").fetchone()[0],
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
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.stack([blob_to_vec(r[1]) for r in rows])
        return ids, vecs

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
        """Replace a photo's lines of text (text, confidence, box) and its searchable `folded`
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
            "INSERT INTO text_lines(photo_id, idx, text, confidence, x1, y1, x2, y2) "
            "VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
            [(photo_id, k, ln["text"], ln["confidence"], *ln["box"]) for k, ln in enumerate(lines)],
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
        """Lines of text read in these photos, top to bottom: text, confidence, box."""
        out: dict[int, list[dict]] = {}
        for chunk in _chunks(list(photo_ids), 900):
            rows = self._tuples(
                "SELECT photo_id, text, confidence, x1, y1, x2, y2 FROM text_lines "
                f"WHERE photo_id IN ({_marks(chunk)}) ORDER BY photo_id, idx",
                chunk,
            )
            for r in rows:
                line = {"text": r[1], "confidence": r[2], "box": (r[3], r[4], r[5], r[6])}
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

    # --- search filters ---

    def person_display_names(self, ids: Iterable[int]) -> dict[int, str | None]:
        """Names of existing people by id (None for an unnamed cluster); missing ids are left out."""
        ids = list(ids)
        out: dict[int, str | None] = {}
        for chunk in _chunks(ids, 900):
            sql = f"SELECT id, name FROM people WHERE id IN ({_marks(chunk)})"
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
            sets.append(f"SELECT photo_id FROM faces WHERE person_id IN ({_marks(any_of)})")
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
                f"AND f.person_id IN ({_marks(none_of)}))"
            )
            args += list(none_of)
        wanted = list(all_of) + list(any_of)
        if only and wanted:
            marks = _marks(wanted)
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
            where.append(f"p.place IN ({_marks(places)})" if places else "0")
            args += list(places)
        if where:
            sql += " WHERE " + " AND ".join(where)
        if newest_first:
            sql += " ORDER BY p.taken_at IS NULL, p.taken_at DESC, p.id DESC"
        return _int_column(self._tuples(sql, args))

    def faces_of_people(self, person_ids: Sequence[int]) -> dict[str, np.ndarray]:
        """Every face assigned to these people, as columns: face_id, photo_id, person_id,
        distance (0 when the user assigned it), score, width (face / photo width)."""
        rows = self._tuples(
            "SELECT f.id, f.photo_id, f.person_id, "
            "CASE WHEN f.source='user' THEN 0.0 ELSE coalesce(f.distance, 0.0) END, f.score, "
            "(f.x2 - f.x1) / max(coalesce(p.width, 0), f.x2, 1) FROM faces f "
            f"JOIN photos p ON p.id=f.photo_id WHERE f.person_id IN ({_marks(person_ids)})",
            list(person_ids),
        )
        table = np.array(rows, dtype=np.float64).reshape(len(rows), 6)
        names = ["face_id", "photo_id", "person_id", "distance", "score", "width"]
        cols = {n: table[:, i] for i, n in enumerate(names)}
        return {n: c.astype(np.int64) if n.endswith("_id") else c for n, c in cols.items()}

    def _tuples(self, sql: str, args: Sequence) -> list[tuple]:
        """Rows as plain tuples: several times cheaper than sqlite3.Row for bulk reads."""
        cur = self.conn.cursor()
        cur.row_factory = None
        return cur.execute(sql, args).fetchall()

    def faces_in_photos(self, photo_ids: Iterable[int]) -> list[Face]:
        """Every face of these photos with its person's name, ordered by photo then left to right
        (without vectors or landmarks, which a result list does not need)."""
        out: list[Face] = []
        for chunk in _chunks(list(photo_ids), 900):
            rows = self.conn.execute(
                "SELECT f.photo_id, f.id, f.idx, f.person_id, pe.name, f.source, f.distance, "
                "f.score, f.x1, f.y1, f.x2, f.y2 FROM faces f "
                "LEFT JOIN people pe ON pe.id=f.person_id "
                f"WHERE f.photo_id IN ({_marks(chunk)}) ORDER BY f.photo_id, f.idx, f.id",
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
                    )
                )
        return out

    # --- faces and people ---

    def put_faces(self, photo_id: int, model: str, faces: Sequence[dict]) -> list[int]:
        """Replace a photo's faces (box, landmarks, score, vector) and mark it done for `model`."""
        self.conn.execute("DELETE FROM faces WHERE photo_id=?", (photo_id,))
        ids = []
        for k, f in enumerate(faces):
            cur = self.conn.execute(
                "INSERT INTO faces(photo_id, idx, x1, y1, x2, y2, landmarks, score, model, vector) "
                "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (photo_id, k, *map(float, f["box"]), json.dumps(f["landmarks"]), f["score"],
                 model, vec_to_blob(f["vector"])),
            )  # fmt: skip
            ids.append(int(cur.lastrowid))
        self.conn.execute("UPDATE photos SET faces_model=? WHERE id=?", (model, photo_id))
        return ids

    def face_arrays(self, model: str) -> dict[str, np.ndarray]:
        """Every usable face of `model` as aligned arrays: ids, photos, vectors, persons, locked.

        `locked`: the user assigned the face or rejected it from a person (clustering leaves it).
        """
        rows = self.conn.execute(
            "SELECT f.id, f.photo_id, f.vector, f.person_id, f.source, "
            "EXISTS(SELECT 1 FROM face_rejections r WHERE r.face_id=f.id) "
            "FROM faces f JOIN photos p ON p.id=f.photo_id "
            "WHERE f.model=? AND p.status='ok' ORDER BY f.id",
            (model,),
        ).fetchall()
        n = len(rows)
        vectors = np.stack([blob_to_vec(r[2]) for r in rows]) if n else np.zeros((0, 0), np.float32)
        return {
            "ids": np.fromiter((r[0] for r in rows), np.int64, n),
            "photos": np.fromiter((r[1] for r in rows), np.int64, n),
            "vectors": vectors,
            "persons": np.fromiter((-1 if r[3] is None else r[3] for r in rows), np.int64, n),
            "locked": np.fromiter((r[4] == "user" or bool(r[5]) for r in rows), bool, n),
        }

    def faces_of_photo(self, photo_id: int) -> list[Face]:
        """A photo's faces in stored order (left to right), with their person's name."""
        rows = self.conn.execute(
            "SELECT f.*, pe.name AS person_name FROM faces f "
            "LEFT JOIN people pe ON pe.id=f.person_id WHERE f.photo_id=? ORDER BY f.idx",
            (photo_id,),
        ).fetchall()
        return [_face_dict(r) for r in rows]

    def faces_by_id(self, ids: Iterable[int]) -> dict[int, Face]:
        """Faces by id, with their photo's hash and their person's name."""
        out: dict[int, Face] = {}
        for chunk in _chunks(list(ids), 900):
            marks = _marks(chunk)
            for r in self.conn.execute(
                "SELECT f.*, pe.name AS person_name, ph.hash AS photo_hash FROM faces f "
                "JOIN photos ph ON ph.id=f.photo_id LEFT JOIN people pe ON pe.id=f.person_id "
                f"WHERE f.id IN ({marks})",
                chunk,
            ):
                out[r["id"]] = _face_dict(r)
        return out

    def faces_of_person(self, person_id: int) -> list[Face]:
        """Every face of a person, with its photo id and source."""
        rows = self.conn.execute(
            "SELECT f.*, NULL AS person_name FROM faces f WHERE f.person_id=? ORDER BY f.id",
            (person_id,),
        ).fetchall()
        return [_face_dict(r) for r in rows]

    def assign_faces(
        self, assignments: Iterable[tuple[int, int | None, float | None]], source: str
    ) -> None:
        """Set (face id, person id or None, distance) for many faces, marking who decided."""
        self.conn.executemany(
            "UPDATE faces SET person_id=?, distance=?, source=? WHERE id=?",
            [(p, d, source, f) for f, p, d in assignments],
        )

    def reject_face(self, face_id: int, person_id: int) -> None:
        """The user said this face is not that person: unassign it and remember the refusal."""
        self.conn.execute(
            "UPDATE faces SET person_id=NULL, distance=NULL, source='user' WHERE id=?", (face_id,)
        )
        self.conn.execute(
            "INSERT OR IGNORE INTO face_rejections(face_id, person_id) VALUES(?, ?)",
            (face_id, person_id),
        )

    def rejections(self, face_ids: Iterable[int]) -> dict[int, list[int]]:
        """Person ids each face was rejected from, by face id."""
        out: dict[int, list[int]] = {}
        for chunk in _chunks(list(face_ids), 900):
            marks = _marks(chunk)
            sql = f"SELECT face_id, person_id FROM face_rejections WHERE face_id IN ({marks})"
            for r in self.conn.execute(sql, chunk):
                out.setdefault(r[0], []).append(r[1])
        return out

    def clear_rejection(self, face_id: int, person_id: int) -> None:
        """Forget a refusal (the user now says the face is that person after all)."""
        self.conn.execute(
            "DELETE FROM face_rejections WHERE face_id=? AND person_id=?", (face_id, person_id)
        )

    def add_person(self, name: str | None = None) -> int:
        """A new person, named or not; returns its id."""
        cur = self.conn.execute(
            "INSERT INTO people(name, created_at) VALUES(?, ?)", (name, time.time())
        )
        return int(cur.lastrowid)

    def person(self, person_id: int) -> Person | None:
        """One person: id, name (None when unnamed)."""
        row = self.conn.execute("SELECT id, name FROM people WHERE id=?", (person_id,)).fetchone()
        return Person(id=row["id"], name=row["name"]) if row else None

    def person_by_name(self, name: str) -> Person | None:
        """The person with this name or alias, in any case."""
        row = self.conn.execute(
            "SELECT id, name FROM people WHERE name=? UNION "
            "SELECT p.id, p.name FROM aliases a JOIN people p ON p.id=a.person_id WHERE a.alias=?",
            (name, name),
        ).fetchone()
        return Person(id=row["id"], name=row["name"]) if row else None

    def set_person_name(self, person_id: int, name: str | None) -> None:
        """Name, rename or un-name a person."""
        self.conn.execute("UPDATE people SET name=? WHERE id=?", (name, person_id))

    def delete_person(self, person_id: int) -> None:
        """Remove a person; its faces become unassigned and free for the clustering again."""
        self.conn.execute(
            "UPDATE faces SET person_id=NULL, distance=NULL, source='auto' WHERE person_id=?",
            (person_id,),
        )
        self.conn.execute("DELETE FROM people WHERE id=?", (person_id,))

    def delete_empty_people(self) -> int:
        """Drop unnamed people left without faces; returns how many went."""
        cur = self.conn.execute(
            "DELETE FROM people WHERE name IS NULL AND id NOT IN "
            "(SELECT DISTINCT person_id FROM faces WHERE person_id IS NOT NULL)"
        )
        return cur.rowcount

    def add_alias(self, person_id: int, alias: str) -> None:
        """Another name for a person."""
        self.conn.execute(
            "INSERT INTO aliases(alias, person_id) VALUES(?, ?) "
            "ON CONFLICT(alias) DO UPDATE SET person_id=excluded.person_id",
            (alias, person_id),
        )

    def move_aliases(self, from_id: int, to_id: int) -> None:
        """Give one person's aliases to another (merging people)."""
        self.conn.execute("UPDATE aliases SET person_id=? WHERE person_id=?", (to_id, from_id))

    def aliases(self) -> dict[int, list[str]]:
        """Aliases of every person that has some, by person id."""
        out: dict[int, list[str]] = {}
        for r in self.conn.execute("SELECT person_id, alias FROM aliases ORDER BY alias"):
            out.setdefault(r[0], []).append(r[1])
        return out

    def named_faces(self) -> list[dict]:
        """Every face of a named person as a fingerprint: person_id, name, photo_hash, box,
        source (for people.json)."""
        rows = self.conn.execute(
            "SELECT pe.id, pe.name, ph.hash, f.x1, f.y1, f.x2, f.y2, f.source FROM faces f "
            "JOIN people pe ON pe.id=f.person_id JOIN photos ph ON ph.id=f.photo_id "
            "WHERE pe.name IS NOT NULL AND ph.hash IS NOT NULL ORDER BY pe.name, ph.hash, f.idx"
        ).fetchall()
        return [
            {"person_id": r[0], "name": r[1], "photo_hash": r[2], "box": tuple(r[3:7]),
             "source": r[7]}
            for r in rows
        ]  # fmt: skip

    def named_rejections(self) -> list[dict]:
        """Every "not this person" the user said about a face: name, photo_hash, box."""
        rows = self.conn.execute(
            "SELECT pe.name, ph.hash, f.x1, f.y1, f.x2, f.y2 FROM face_rejections r "
            "JOIN people pe ON pe.id=r.person_id JOIN faces f ON f.id=r.face_id "
            "JOIN photos ph ON ph.id=f.photo_id WHERE pe.name IS NOT NULL ORDER BY pe.name"
        ).fetchall()
        return [{"name": r[0], "photo_hash": r[1], "box": tuple(r[2:6])} for r in rows]

    def faces_of_hashes(self, hashes: Iterable[str]) -> dict[str, list[dict]]:
        """Faces of the photos with these content hashes, by hash: face_id, box, person_id,
        source."""
        out: dict[str, list[dict]] = {}
        for chunk in _chunks(sorted(set(hashes)), 900):
            rows = self.conn.execute(
                "SELECT ph.hash, f.id, f.x1, f.y1, f.x2, f.y2, f.person_id, f.source FROM faces f "
                f"JOIN photos ph ON ph.id=f.photo_id WHERE ph.status='ok' AND ph.hash IN "
                f"({_marks(chunk)})",
                chunk,
            )
            for r in rows:
                out.setdefault(r[0], []).append(
                    {"face_id": r[1], "box": tuple(r[2:6]), "person_id": r[6], "source": r[7]}
                )
        return out

    def people_summary(self) -> list[dict]:
        """Every person with faces or a name: id, name, face and photo counts, best face id."""
        rows = self.conn.execute(
            "SELECT pe.id, pe.name, count(f.id) AS faces, count(DISTINCT f.photo_id) AS photos, "
            "(SELECT b.id FROM faces b WHERE b.person_id=pe.id "
            " ORDER BY (b.source='user') DESC, (b.x2-b.x1)*b.score DESC LIMIT 1) AS cover "
            "FROM people pe LEFT JOIN faces f ON f.person_id=pe.id "
            "GROUP BY pe.id HAVING pe.name IS NOT NULL OR count(f.id) > 0"
        ).fetchall()
        return [dict(r) for r in rows]


def _backend_filter(backends: Sequence[str] | None) -> tuple[str, list[str]]:
    """An " AND v.backend IN (...)" clause and its arguments (nothing when None)."""
    if backends is None:
        return "", []
    return f" AND v.backend IN ({_marks(backends)})", list(backends)


def library_traces(data_dir: Path) -> list[str]:
    """Files in `data_dir` that show a library was indexed there (whatever the catalog says)."""
    return [name for name in LIBRARY_TRACES if (Path(data_dir) / name).exists()]


def damaged_message(path: Path, what: str) -> str:
    """The one message for a catalog that cannot be read: which file, what, what to do."""
    return (
        f"The catalog {path} is damaged: {what}. Your photos are untouched. Move the damaged "
        f"file away (e.g. `mv {path} {path}.damaged`), then run `python app.py index FOLDER` "
        "to rebuild it; people's names come back from people.json beside it."
    )


def _header_problem(path: Path, size: int) -> str | None:
    """What is wrong with a catalog file's SQLite header, or None when it looks whole."""
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except OSError as err:
        return f"it cannot be read ({err.strerror})"
    if not head.startswith(SQLITE_MAGIC):
        return "it is not an SQLite database (its first bytes are garbage or another file)"
    if len(head) < 100:
        return f"it is cut short ({size} bytes)"
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    # The page count in the header is valid when its change counter matches (SQLite >= 3.7).
    valid = head[24:28] == head[92:96] and pages > 0
    if page_size < 512 or page_size & (page_size - 1):
        return "its header is garbage (impossible page size)"
    wal = Path(f"{path}-wal")
    # With a write-ahead log, a checkpoint cut short (a full disk) may leave the file shorter
    # than its header says while the log still holds every page: SQLite reads them there.
    pending = wal.exists() and wal.stat().st_size > 0
    if valid and size < pages * page_size and not pending:
        return f"it is truncated ({size:,} of {pages * page_size:,} bytes)"
    return None


def _is_write_error(err: sqlite3.Error) -> bool:
    text = str(err).lower()
    return "full" in text or "disk i/o" in text or "readonly" in text


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _face_dict(row: sqlite3.Row) -> Face:
    """A face row as a `Face`: box as a tuple, landmarks decoded, vector as float32."""
    d = dict(row)
    d["box"] = (d.pop("x1"), d.pop("y1"), d.pop("x2"), d.pop("y2"))
    d["landmarks"] = json.loads(d["landmarks"]) if d.get("landmarks") else []
    d["vector"] = blob_to_vec(d["vector"])
    return d


def _marks(items: Sequence) -> str:
    return ",".join("?" * len(items))


def _int_column(rows: list[tuple]) -> np.ndarray:
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
