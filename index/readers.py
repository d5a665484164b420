"""How each kind of file is read for indexing: its content hash, and the one decode the
stages share. The indexer asks `reader_for(path)` and knows no format; a new kind of file
is its suffixes in index/formats.py and a reader registered at the bottom of this module.

A reader's `digest` reads what it must to hash the file and hands back the bytes the decode
will use (read once, hashed from the same buffer); `decode` makes the `scan.Decoded` (a
video's moments in its `frames`) at `size` px.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from index import formats, scan, videos
from index.settings import Settings


class Reader(Protocol):
    """Reads one kind of file for the indexer."""

    def digest(self, path: str) -> tuple[bytes, str]:
        """(the bytes `decode` is given, the file's content hash); `scan.Unreadable` (or
        `scan.Vanished`) when the file cannot be read."""
        ...

    def decode(
        self, path: str, data: bytes, settings: Settings, digest: str, size: int
    ) -> scan.Decoded:
        """The file decoded once, its longest side at most `size` px."""
        ...


class StillReader:
    """Photos (Pillow's formats, camera RAW): read whole once, hashed and decoded from that
    one buffer."""

    def digest(self, path: str) -> tuple[bytes, str]:
        """The whole file and its hash."""
        data = scan.read_bytes(path)
        return data, scan.file_hash(data)

    def decode(
        self, path: str, data: bytes, settings: Settings, digest: str, size: int
    ) -> scan.Decoded:
        """The photo at reduced scale where its format allows (`scan.decode`)."""
        return scan.decode(data, settings, digest, size, name=path)


class VideoReader:
    """Videos: hashed in pieces (never read into memory whole), decoded from the file."""

    def digest(self, path: str) -> tuple[bytes, str]:
        """No bytes kept; the hash of the file read in pieces."""
        return b"", videos.file_digest(path)

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


_STILL = StillReader()
register(formats.STILL_SUFFIXES, _STILL)
register(formats.VIDEO_SUFFIXES, VideoReader())
