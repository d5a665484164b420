"""Opening the catalog: the connection, the schema's version and its upgrades, transactions,
the meta table and the models on record; and the small helpers every query uses."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from index.catalog.schema import MIGRATIONS, SCHEMA_VERSION
from index.errors import CatalogError, PirError
from index.storage import write_failed

CATALOG_NAME = "catalog.sqlite"


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


def chunks(items: list, size: int) -> Iterator[list]:
    """`items` in runs of at most `size` (SQLite limits the parameters of one statement)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def placeholders(items: Sequence) -> str:
    """ "?,?,?": one SQL parameter per item."""
    return ",".join("?" * len(items))


def int_column(rows: list[tuple]) -> np.ndarray:
    """The first column of `rows` as an int64 array."""
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


def backend_filter(backends: Sequence[str] | None, alias: str) -> tuple[str, list[str]]:
    """An " AND <alias>.backend IN (...)" clause and its arguments (nothing when None)."""
    if backends is None:
        return "", []
    return f" AND {alias}.backend IN ({placeholders(backends)})", list(backends)


def id_vectors(rows: list) -> tuple[np.ndarray, np.ndarray]:
    """(ids int64, vectors float32 (n, d)) from (id, vector blob) rows; empty arrays for none."""
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return ids, np.stack([blob_to_vec(r[1]) for r in rows])


def like_escape(text: str) -> str:
    """`text` with LIKE's wildcards escaped (for ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


SQLITE_MAGIC = b"SQLite format 3\x00"


# Files a data dir holds once it has indexed something: with these and no catalog, the
# catalog was lost, and an empty new one would silently look like an empty library.
LIBRARY_TRACES = ("thumbs", "people.json", "images.faiss", "faces")


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


# Why nothing but SQLite may open a catalog file in a process that holds a connection to it:
# SQLite's locks are POSIX advisory locks, and POSIX drops *every* lock a process holds on a
# file as soon as the process closes *any* descriptor of that file, not only SQLite's own
# ("How To Corrupt An SQLite Database File", section 2.2:
# https://www.sqlite.org/howtocorrupt.html#_posix_advisory_locks_canceled_by_a_separate_thread_doing_close_).
# A server whose second connection read the header with open()/close() held no lock from then
# on, so the next command beside it (`stats`, `people`, `name`) believed it was the last
# user, checkpointed and deleted the write-ahead log the server kept writing into: everything
# the server wrote afterwards was lost. So the header is read by hand only while no
# connection of this process has the file open (before its first one, or after its last one
# closed); otherwise SQLite, which already opened it whole, reports damage itself. Nothing
# else opens catalog.sqlite, -wal or -shm (stat() opens no descriptor and is safe).
_open_files_lock = threading.Lock()
_open_files: dict[tuple[int, int], int] = {}  # (device, inode) -> live connections to it


def _file_key(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _forget(key: tuple[int, int]) -> None:
    with _open_files_lock:
        _open_files[key] -= 1
        if not _open_files[key]:
            del _open_files[key]


class _CountedConnection(sqlite3.Connection):
    """A connection counted among its file's live ones until it is closed or collected."""

    _release: weakref.finalize | None = None

    def count_open(self, key: tuple[int, int]) -> None:
        """Count this connection as one holding `key` (call with `_open_files_lock` held)."""
        _open_files[key] = _open_files.get(key, 0) + 1
        self._release = weakref.finalize(self, _forget, key)

    def close(self) -> None:
        """Close, then stop counting (the second close of a connection counts nothing)."""
        super().close()
        if self._release is not None:
            self._release()


def _header_problem(path: Path, size: int) -> str | None:
    """What is wrong with a catalog file's SQLite header, or None when it looks whole.

    Call only while no connection of this process has the file open (see above)."""
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
    return _log_problem(wal) if pending else None


# The first bytes of every SQLite write-ahead log (https://www.sqlite.org/fileformat.html#walformat).
WAL_MAGIC = (0x377F0682, 0x377F0683)
WAL_HEADER = 32


def _log_problem(wal: Path) -> str | None:
    """What is wrong with a catalog's write-ahead log's header, or None. SQLite takes a log
    with a garbage header for an empty one: it would open the catalog without the changes
    committed into the log, silently. Call only while this process holds no connection."""
    try:
        with open(wal, "rb") as f:
            head = f.read(WAL_HEADER)
    except OSError as err:
        return f"its write-ahead log {wal.name} cannot be read ({err.strerror})"
    if len(head) == WAL_HEADER and int.from_bytes(head[:4], "big") in WAL_MAGIC:
        return None
    return (
        f"its write-ahead log {wal.name} is damaged (its header is garbage), so the latest "
        "changes kept in it cannot be read, and opening the catalog without them would undo "
        f"them silently. Move {wal.name} away together with the catalog"
    )


# The smallest shared-memory file SQLite ever uses (one 32 KiB region): a shorter one was
# never set up, so no connection anywhere can be using it.
SHM_REGION = 32768


def _remove_unusable(made: list[Path]) -> None:
    """Remove the -wal and -shm an open that failed (a full disk) left behind: only files it
    created itself (absent before it) and that nobody can be using (an empty log, a shared
    memory shorter than one region: SQLite wrote 3 bytes of it and the disk was full)."""
    for path in made:
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if (path.name.endswith("-wal") and size == 0) or (
            path.name.endswith("-shm") and size < SHM_REGION
        ):
            path.unlink(missing_ok=True)


def _is_write_error(err: sqlite3.Error) -> bool:
    text = str(err).lower()
    return "full" in text or "disk i/o" in text or "readonly" in text


def _failure(path: Path, err: Exception, doing: str) -> Exception:
    """The error a user sees when `doing` ("open", "write") the catalog failed: a full disk
    or I/O error as one WriteFailed line, damage as the damaged-catalog message, anything
    else (SQLite's operational errors, the OS) as a folder they should change."""
    if isinstance(err, sqlite3.OperationalError) and _is_write_error(err):
        return write_failed(path, err)
    if isinstance(err, sqlite3.DatabaseError) and not isinstance(err, sqlite3.OperationalError):
        return CatalogError(damaged_message(path, str(err)))
    return CatalogError(
        f"Cannot {doing} the catalog {path}: {err}. "
        "Choose a writable folder with --data DIR or PIR_DATA."
    )


class CatalogStore:
    """The connection to one data dir's catalog, its schema and its transactions."""

    conn: sqlite3.Connection

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
        with _open_files_lock:  # no other thread opens this file between the check and SQLite
            self._check_file(rebuild)
            absent = [p for p in self._companions() if not p.exists()]
            try:
                self.conn = self._connect()
            except PirError:
                _remove_unusable(absent)
                raise
            key = _file_key(self.path)
            if key is not None:
                self.conn.count_open(key)
        try:
            self._ensure_version()
        except PirError:
            self.conn.close()
            with _open_files_lock:
                if _file_key(self.path) not in _open_files:
                    _remove_unusable(absent)
            raise

    def _companions(self) -> list[Path]:
        """The write-ahead log and shared-memory files SQLite keeps beside the catalog."""
        return [Path(f"{self.path}-wal"), Path(f"{self.path}-shm")]

    # --- opening and schema ---

    def _check_file(self, rebuild: bool) -> None:
        """Refuse a damaged catalog, and a lost one unless rebuilding, before SQLite sees it."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = None
        except OSError as err:
            raise CatalogError(f"Cannot read the catalog {self.path}: {err.strerror}.") from err
        if size and _file_key(self.path) in _open_files:
            return  # SQLite holds it open in this process: reading it here would drop its locks
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
                    f"file:{self.path}?mode=ro",
                    uri=True,
                    check_same_thread=False,
                    factory=_CountedConnection,
                )
            else:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, check_same_thread=False, timeout=30, factory=_CountedConnection
                )
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
        except (sqlite3.DatabaseError, OSError) as err:
            raise _failure(self.path, err, "open") from err

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
            except sqlite3.DatabaseError as err:
                raise _failure(self.path, err, "write") from err

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

    def _tuples(self, sql: str, args: Sequence) -> list[tuple]:
        """Rows as plain tuples: several times cheaper than sqlite3.Row for bulk reads."""
        cur = self.conn.cursor()
        cur.row_factory = None
        return cur.execute(sql, args).fetchall()
