"""The walk stays inside the library folder: links, system folders and special files."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from index import scan
from index.library import Library
from index.settings import Settings
from tests.photo_files import noise_photo


@pytest.fixture
def tricky(tmp_path) -> dict[str, Path]:
    """A library with a symlink to /, one to a folder outside, one inside, and odd files."""
    lib = tmp_path / "library"
    outside = tmp_path / "outside"
    noise_photo(lib / "a.jpg", seed=1)
    noise_photo(lib / "trip" / "b.jpg", seed=2)
    noise_photo(lib / ".hidden" / "kept" / "c.jpg", seed=3)
    noise_photo(outside / "stranger.jpg", seed=4)
    (lib / "everything").symlink_to("/", target_is_directory=True)
    (lib / "elsewhere").symlink_to(outside, target_is_directory=True)
    (lib / "trip-again").symlink_to(lib / "trip", target_is_directory=True)
    (lib / "kept").symlink_to(lib / ".hidden" / "kept", target_is_directory=True)
    (lib / "passwd.jpg").symlink_to("/etc/passwd")
    (lib / "a-link.jpg").symlink_to(lib / "a.jpg")
    (lib / "proc").symlink_to("/proc", target_is_directory=True)
    os.mkfifo(lib / "pipe.jpg")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(lib / "sock.jpg"))
    sock.close()
    return {"lib": lib, "outside": outside}


def reasons(walked: scan.WalkResult) -> dict[str, str]:
    return {Path(p.path).name: p.reason for p in walked.left_out}


def test_walk_never_leaves_the_library_folder(tricky):
    walked = scan.walk(tricky["lib"])
    found = sorted(os.path.relpath(f.path, tricky["lib"]) for f in walked.found)
    # Each real photo once; the hidden folder's photo through the link that points at it.
    assert found == ["a.jpg", "kept/c.jpg", "trip/b.jpg"]
    why = reasons(walked)
    assert "outside the library" in why["everything"]
    assert "outside the library" in why["elsewhere"]
    assert "outside the library" in why["passwd.jpg"]
    assert "outside the library" in why["proc"]
    assert "indexed under its own path" in why["trip-again"]
    assert "already indexed under another name" in why["a-link.jpg"]


def test_special_files_are_listed_and_never_opened(tricky, tmp_path, tiny_clip_spec, monkeypatch):
    opened: list[str] = []
    real_read = scan.read_bytes

    def spy(path: str) -> bytes:
        opened.append(path)
        return real_read(path)

    monkeypatch.setattr(scan, "read_bytes", spy)
    with Library(tmp_path / "data", clip=tiny_clip_spec, settings=Settings(), faces=False) as lib:
        report = lib.index(tricky["lib"])
    why = {Path(p).name: r for p, r in report.skipped}
    assert "named pipe" in why["pipe.jpg"] and "socket" in why["sock.jpg"]
    assert sorted(Path(p).name for p in opened) == ["a.jpg", "b.jpg", "c.jpg"]


def test_a_library_inside_proc_is_refused():
    walked = scan.walk(Path("/proc/self"))
    assert walked.found == [] and "system folder" in walked.left_out[0].reason


def test_indexing_a_library_with_a_link_to_root_catalogues_only_its_own_photos(
    tricky, tmp_path, tiny_clip_spec
):
    with Library(tmp_path / "data", clip=tiny_clip_spec, settings=Settings(), faces=False) as lib:
        report = lib.index(tricky["lib"])
        assert report.new == 3
        skipped = {Path(p).name for p, _ in report.skipped}
        assert {"everything", "elsewhere", "passwd.jpg", "pipe.jpg", "sock.jpg"} <= skipped
        assert lib.stats()["photos"] == 3
        assert len(lib.catalog.photos_under(os.path.realpath(tricky["lib"]))) == 3
        thumbs = list((tmp_path / "data" / "thumbs").rglob("*.jpg"))
        assert len(thumbs) == 3


def test_a_hidden_photo_is_listed_as_skipped_with_its_reason(tmp_path):
    noise_photo(tmp_path / "lib" / "seen.jpg", seed=1)
    noise_photo(tmp_path / "lib" / ".x.jpg", seed=2)
    walked = scan.walk(tmp_path / "lib")
    assert [Path(f.path).name for f in walked.found] == ["seen.jpg"]
    assert "hidden file" in reasons(walked)[".x.jpg"]


def test_a_hidden_folder_is_listed_once_as_skipped_and_not_looked_into(tmp_path):
    noise_photo(tmp_path / "lib" / "seen.jpg", seed=1)
    noise_photo(tmp_path / "lib" / ".thumbnails" / "large" / "t1.jpg", seed=2)
    noise_photo(tmp_path / "lib" / ".thumbnails" / "t2.jpg", seed=3)
    (tmp_path / "lib" / "trip" / ".git" / "objects").mkdir(parents=True)
    noise_photo(tmp_path / "lib" / ".pir-data" / "thumbs" / "t.jpg", seed=4)
    walked = scan.walk(tmp_path / "lib", exclude=(tmp_path / "lib" / ".pir-data",))
    assert [Path(f.path).name for f in walked.found] == ["seen.jpg"]
    listed = reasons(walked)
    assert set(listed) == {".thumbnails", ".git"}, "one line per hidden folder, none inside"
    assert "a hidden folder (its name starts with a dot), not looked into" in listed[".git"]
