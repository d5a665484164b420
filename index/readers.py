"""How each kind of file is read for indexing: its content hash, and the one decode the
stages share. The indexer asks `reader_for(path)` and knows no format; a new kind of file
is its suffixes in index/formats.py and a reader registered at the bottom of this module.

A reader's `read` reads what it must to hash the file and hands back the bytes the decode
will use (read once, hashed from the same buffer) with the hash, which for a big file (a
camera RAW) a helper thread is still computing (`digest` waits for it); `decode` makes the
`scan.Decoded` (a video's moments in its `frames`) at `size` px. `read_and_decode` decodes
while the hash is computed, for a file whose decode is needed whatever its hash: a 25 MB
RAW then costs its preview's decode, not that plus 30 ms of hashing (the CPU work is the
same; bench/raw_cost.py reports both).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from index import formats, scan, videos
from index.settings import Settings


class Reader(Protocol):
    """Reads one kind of file for the indexer."""

    def read(self, path: str) -> tuple[bytes, Future[str]]:
        """(the bytes `decode` is given, the file's content hash, maybe still being
        computed); `scan.Unreadable` (or `scan.Vanished`) when the file cannot be read."""
        ...

    def digest(self, path: str) -> tuple[bytes, str]:
        """(the bytes `decode` is given, the file's content hash): `read`, waited for."""
        ...

    def decode(
        self, path: str, data: bytes, settings: Settings, digest: str, size: int
    ) -> scan.Decoded:
        """The file decoded once, its longest side at most `size` px, carrying `digest`."""
        ...


# A still at least this big is hashed by a helper thread while it is decoded (hashlib lets
# go of the GIL over big buffers); a small one is hashed at once (a thread costs more).
HASH_BESIDE_BYTES = 4 << 20
_hashers: ThreadPoolExecutor | None = None


def _hashed(data: bytes) -> Future[str]:
    """The content hash of `data`, in a helper thread when it is big."""
    global _hashers
    if len(data) >= HASH_BESIDE_BYTES:
        if _hashers is None:
            _hashers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hash")
        return _hashers.submit(scan.file_hash, data)
    return _done(scan.file_hash(data))


def _done(value: str) -> Future[str]:
    done: Future[str] = Future()
    done.set_result(value)
    return done


class _Reads:
    """`digest` from a reader's `read`: the same bytes, the hash waited for."""

    def read(self, path: str) -> tuple[bytes, Future[str]]:
        raise NotImplementedError

    def digest(self, path: str) -> tuple[bytes, str]:
        """(the bytes `decode` is given, the file's content hash)."""
        data, hashing = self.read(path)
        return data, hashing.result()


class StillReader(_Reads):
    """Photos (Pillow's formats, camera RAW): read whole once, hashed and decoded from that
    one buffer."""

    def read(self, path: str) -> tuple[bytes, Future[str]]:
        """The whole file and its hash (a big file's computed beside, see `_hashed`)."""
        data = scan.read_bytes(path)
        return data, _hashed(data)

    def decode(
        self, path: str, data: bytes, settings: Settings, digest: str, size: int
    ) -> scan.Decoded:
        """The photo at reduced scale where its format allows (`scan.decode`)."""
        return scan.decode(data, settings, digest, size, name=path)


class VideoReader(_Reads):
    """Videos: hashed in pieces (never read into memory whole), decoded from the file."""

    def read(self, path: str) -> tuple[bytes, Future[str]]:
        """No bytes kept; the hash of the file read in pieces (the decode reads it again)."""
        return b"", _done(videos.file_digest(path))

    def decode(
        self, path: str, data: bytes, settings: Settings, digest: str, size: int
    ) -> scan.Decoded:
        """The video's poster, its sampled moments in `frames` (`videos.read_video`)."""
        return videos.read_video(path, settings, digest, size).decoded


_READERS: dict[str, Reader] = {}


def register(suffixes: Iterable[str], reader: Reader) -> None:
    """Read the files with these (lower-case) suffixes with `reader`."""
    for suffix in suffixes:
        _READERS[suffix] = reader


def reader_for(path: str) -> Reader:
    """The reader of a file the walk listed (stills by default: Pillow says what it is not)."""
    return _READERS.get(formats.suffix(path), _STILL)


def read_and_decode(path: str, settings: Settings, size: int) -> tuple[str, scan.Decoded]:
    """(content hash, the file decoded at `size` px), the decode made while a big file's
    hash is computed: for a file whose decode is needed whatever its hash."""
    reader = reader_for(path)
    data, hashing = reader.read(path)
    decoded = reader.decode(path, data, settings, "", size)
    decoded.hash = hashing.result()
    return decoded.hash, decoded


_STILL = StillReader()
register(formats.STILL_SUFFIXES, _STILL)
register(formats.VIDEO_SUFFIXES, VideoReader())
