"""A date that comes only from the file's time looks uncertain in the chat: on its tile, and
counted in a date search's answer."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from assistant.conversation import Assistant
from index.library import Library
from index.settings import Settings
from tests.photo_files import noise_photo


def _library(tmp_path: Path, tiny_clip_spec: str) -> Library:
    photos = tmp_path / "photos"
    copied = noise_photo(photos / "copied.jpg", seed=1)  # a copy made "in 2019": file time only
    stamp = datetime(2019, 12, 30).timestamp()
    os.utime(copied, (stamp, stamp))
    noise_photo(photos / "camera.jpg", seed=3, taken=datetime(2019, 2, 1, 9, 0, 0))
    noise_photo(photos / "later.jpg", seed=4, taken=datetime(2021, 5, 1, 9, 0, 0))
    lib = Library(tmp_path / "data", clip=tiny_clip_spec, settings=Settings(), faces=False)
    lib.index(photos)
    return lib


def test_a_file_dated_photo_says_so_on_its_tile_and_a_date_search_counts_it(
    tmp_path, tiny_clip_spec
):
    lib = _library(tmp_path, tiny_clip_spec)
    chat = Assistant(lib).new_session()
    reply = chat.respond("photos from 2019")
    captions = {Path(p.path).name: p.caption for p in reply.photos}
    assert list(captions) == ["camera.jpg", "copied.jpg"]  # the uncertain one after
    assert "2019-12-30 (file date, uncertain)" in captions["copied.jpg"]
    assert "uncertain" not in captions["camera.jpg"]
    assert "1 of the 2 photos found is dated only by the file's time" in reply.text


def test_a_date_search_without_file_dated_photos_adds_no_count(tmp_path, tiny_clip_spec):
    lib = _library(tmp_path, tiny_clip_spec)
    chat = Assistant(lib).new_session()
    reply = chat.respond("photos from 2021")
    assert [Path(p.path).name for p in reply.photos] == ["later.jpg"]
    assert "dated only by the file's time" not in reply.text
    assert "uncertain" not in reply.photos[0].caption
