"""Writing files in the data dir safely: whole or not at all, and a clear word when the disk
is full. Every file the program writes beside the catalog (thumbnails, face crops, FAISS
indexes, people.json) goes through here or follows the same temp-file + rename pattern."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from index.errors import WriteFailed

FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def write_failed(path: Path | str, err: BaseException) -> WriteFailed:
    """The user's message for a failed write of `path`: what happened and what to do."""
    folder = Path(path).parent
    code = getattr(err, "errno", None)
    text = str(err).lower()
    # A plain I/O error (SQLite's word when even its shared-memory file cannot grow) on a
    # disk with no space left is that full disk.
    vague = code is None and "disk i/o" in text
    if code in FULL_ERRNOS or "full" in text or (vague and _no_space(folder)):
        return WriteFailed(
            f"Cannot write {path}: the disk is full ({free_space(folder)} free). Nothing was "
            f"half-written. Free some space on the disk that holds {folder} (or choose another "
            "--data DIR), then run the same command again to continue where it stopped."
        )
    if code == errno.EROFS:
        why = "the disk is read-only"
    elif code in (errno.EACCES, errno.EPERM):
        why = "permission denied"
    else:
        why = getattr(err, "strerror", None) or str(err)
    return WriteFailed(
        f"Cannot write {path}: {why}. Nothing was half-written. Make {folder} writable "
        "(or choose another --data DIR), then run the same command again to continue."
    )


def _no_space(folder: Path) -> bool:
    """Whether the disk holding `folder` has (next to) no space left."""
    try:
        return shutil.disk_usage(folder).free < 64 * 1024
    except OSError:
        return False


def free_space(folder: Path) -> str:
    """Free space on the disk holding `folder`, for messages ("1.2 MB")."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "unknown space"
    for unit in ("bytes", "KB", "MB", "GB"):
        if free < 1024 or unit == "GB":
            return f"{free:.0f} {unit}" if unit == "bytes" else f"{free:.1f} {unit}"
        free /= 1024
    return f"{free:.1f} TB"


def atomic_write(path: Path, write: Callable[[Path], None], durable: bool = False) -> None:
    """Write `path` through a temp file beside it, then rename: readers see the old file or
    the new one, never half of one. `write(tmp)` fills the temp file. With `durable`, the
    data reaches the disk before the rename (for files that cannot be rebuilt).

    Raises `WriteFailed` with the user's message; the temp file is removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # One temp name per thread: two threads writing one file must not share a temp.
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if durable:
            _fsync_dir(path.parent)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise write_failed(path, err) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold `<path>.lock` exclusively, across processes and threads: for a file that several
    processes rewrite from the catalog (people.json), so that each takes its snapshot and
    writes it without another writing an older one in between. An flock on a file of its own:
    it never touches the catalog's files (see index/catalog/store.py on SQLite's locks)."""
    lock = path.with_name(f"{path.name}.lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise write_failed(lock, err) from err
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def atomic_write_bytes(path: Path, data: bytes, durable: bool = False) -> None:
    """`atomic_write` of a bytes value."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data), durable=durable)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some filesystems cannot open folders; the rename itself still happened
    try:
        os.fsync(fd)
    except OSError:
        pass  # fsync of a folder is unsupported on some filesystems: the rename stands
    finally:
        os.close(fd)
