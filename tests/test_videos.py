"""Videos: catalogued with their length, date and place; sampled into moments (every few
seconds and at scene changes); found once, at the moment that matched."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from index import readers, scan, videos
from index.library import Library
from index.settings import Settings
from index.types import Query
from tests.photo_files import noise_photo
from tests.raw_files import write_dng
from tests.video_files import write_video

DEMO = Path(__file__).resolve().parents[1] / "demo" / "photos"
FORMATS = Path(__file__).resolve().parent / "data" / "formats"
SCENES = ["craft-beer.jpg", "japanese-shop.jpg", "el_torcal_rocks.jpg"]
FILMED = datetime(2022, 8, 14, 10, 30, 0)


def scene(name: str) -> Image.Image:
    return Image.open(DEMO / name).convert("RGB")


@pytest.fixture(scope="module")
def three_scenes(tmp_path_factory) -> Path:
    """9 s of video: three scenes of 3 s each, filmed in Paris, keyframe every second."""
    return write_video(
        tmp_path_factory.mktemp("video") / "trip.mp4",
        [scene(n) for n in SCENES],
        seconds_each=3.0,
        created=FILMED,
        location="+48.8584+002.2945/",
    )


def test_the_container_gives_length_date_and_place(three_scenes):
    read = videos.read_video(str(three_scenes), Settings(), "0" * 32, 640)
    assert read.duration_s == pytest.approx(9.0, abs=0.2)
    taken = datetime.fromisoformat(read.decoded.taken_at)
    assert abs((taken - FILMED.astimezone().replace(tzinfo=None)).total_seconds()) < 24 * 3600
    assert read.decoded.lat == pytest.approx(48.8584) and "Paris" in read.decoded.place
    assert read.decoded.kind == "video" and (read.decoded.width, read.decoded.height) == (320, 240)


def test_moments_come_every_few_seconds_and_at_each_scene_change(three_scenes):
    read = videos.read_video(str(three_scenes), Settings(video_sample_s=4.0), "0" * 32, 640)
    times = [m.time_s for m in read.moments]
    assert times[0] == 0.0
    assert any(abs(t - 3.0) < 0.6 for t in times) and any(abs(t - 6.0) < 0.6 for t in times)
    assert all(b - a >= 0.5 for a, b in zip(times, times[1:], strict=False))


def test_a_cut_between_scenes_alike_in_brightness_but_not_in_colour_is_a_moment(tmp_path):
    """The lower half of one landscape, then the upper half of another: in grey they differ
    by less than the scene-change threshold (0.099 < 0.12), in colour by twice it."""
    ridge, springs = scene("tanners_ridge.jpg"), scene("thompson-springs.jpg")
    first = ridge.crop((0, ridge.height // 2, ridge.width, ridge.height))
    second = springs.crop((0, 0, springs.width, springs.height // 2))
    clip = write_video(tmp_path / "cut.mp4", [first, second], seconds_each=3.0)
    settings = Settings(video_sample_s=4.0, video_scene_change=0.12)
    moments = videos.read_video(str(clip), settings, "0" * 32, 320).moments
    # 3 s: the cut (missed in grey, the next sample would have been at 4 s)
    assert [m.time_s for m in moments] == [0.0, 3.0] and moments[1].change >= 0.2


def test_a_broken_video_is_skipped_with_a_reason(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    with pytest.raises(scan.Unreadable, match="video"):
        videos.read_video(str(bad), Settings(), "0" * 32, 640)


def test_time_is_the_moment_most_like_the_query():
    import numpy as np

    vecs = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    assert videos.best_moment([0.0, 2.0, 4.0], vecs, np.array([0.0, 1.0])) == 1
    assert videos.best_moment([0.0, 2.0, 4.0], vecs, None) == 0


def test_a_whole_phone_library_is_catalogued_once_each(tmp_path, tiny_clip_spec, three_scenes):
    """AVIF, JPEG XL, a motion photo, a Live Photo pair, a RAW+JPEG pair, an MP4 and a MOV:
    every item catalogued with a date and a thumbnail, nothing skipped or counted twice."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("8bit-sRGB.avif", "8bit-sRGB.jxl", "samsung-one-ui-6.heic"):
        shutil.copy(FORMATS / name, photos / name)
    noise_photo(photos / "IMG_0007.JPG")
    write_video(photos / "IMG_0007.MOV", [scene(SCENES[0])], seconds_each=1.5)
    noise_photo(photos / "DSC_0001.JPG")
    write_dng(photos / "DSC_0001.DNG", scene(SCENES[1]).resize((320, 240)))
    shutil.copy(three_scenes, photos / "trip.mp4")
    write_video(photos / "walk.mov", [scene(SCENES[2])], seconds_each=2.0, created=FILMED)
    lib = Library(tmp_path / "data", clip=tiny_clip_spec, settings=Settings(), faces=False)
    report = lib.index(photos)
    assert report.skipped == [] and report.new == 7 and report.companions == 2
    stats = lib.stats()
    assert (stats["photos"], stats["videos"]) == (5, 2)
    assert stats["formats"] == {
        "avif": 1, "heic": 1, "jpg": 2, "jxl": 1, "mov": 1, "mp4": 1,
        "live companions": 1, "raw companions": 1,
    }  # fmt: skip
    for row in lib.catalog.photos_under(str(photos)).values():
        assert row["taken_at"] and lib.thumbnail(row), row["path"]
    trip = lib.resolve_photo("trip.mp4")
    assert trip["kind"] == "video" and trip["duration_s"] == pytest.approx(9.0, abs=0.2)
    again = lib.index(photos)
    assert again.new == 0 and again.unchanged == 7 and again.embedded == 0


def test_search_like_a_frame_finds_the_video_once_at_that_moment(
    tmp_path, tiny_clip_spec, three_scenes
):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(three_scenes, photos / "trip.mp4")
    for i, name in enumerate(("book-beside-flowers.jpg", "cyclamen_persicum.jpg")):
        shutil.copy(DEMO / name, photos / f"photo{i}.jpg")
    lib = Library(tmp_path / "data", clip=tiny_clip_spec, settings=Settings(), faces=False)
    lib.index(photos)
    frame = tmp_path / "frame.png"
    scene(SCENES[2]).resize((320, 240)).save(frame)  # the third scene: from 6 s on
    result = lib.search_like(frame)
    first = result.hits[0]
    assert Path(first.path).name == "trip.mp4" and first.kind == "video"
    assert 5.5 <= first.time_s <= 9.0
    assert [Path(h.path).name for h in result.hits].count("trip.mp4") == 1
    as_json = first.to_json()
    assert as_json["kind"] == "video" and as_json["time_s"] == first.time_s
    assert Path(first.thumbnail).exists() and "moments" in first.thumbnail


def test_a_video_with_rare_keyframes_is_decoded_in_full_and_still_sampled(tmp_path):
    sparse = write_video(
        tmp_path / "sparse.mp4", [scene(n) for n in SCENES], seconds_each=3.0, keyframe_every_s=None
    )
    read = videos.read_video(str(sparse), Settings(video_sample_s=4.0), "0" * 32, 640)
    times = [m.time_s for m in read.moments]
    assert not read.keyframes_only
    assert times[0] == 0.0 and any(abs(t - 3.0) < 0.2 for t in times)


def test_a_person_seen_in_many_moments_is_one_face_of_the_video(tmp_path, tiny_clip_spec):
    """The faces of all moments merge into one face per person, so people searches find
    the video and the rule "two faces in one photo are never one person" still holds."""
    portrait = scene("portrait.jpg")
    write_video(
        tmp_path / "photos" / "curie.mp4",
        [portrait, portrait.transpose(Image.Transpose.FLIP_LEFT_RIGHT), portrait],
        seconds_each=2.0,
        size=(480, 640),
    )
    lib = Library(tmp_path / "data", clip=tiny_clip_spec, settings=Settings(), faces=True)
    report = lib.index(tmp_path / "photos")
    video = lib.resolve_photo("curie.mp4")
    moments = lib.catalog.moments([video["id"]], lib.clip.spec)[video["id"]][0]
    assert report.skipped == [] and len(moments) >= 3
    assert len(lib.catalog.faces_of_photo(video["id"])) == 1


@pytest.mark.parametrize(
    "text, media, low, high",
    [
        ("videos of Alice", "video", None, None),
        ("only videos", "video", None, None),
        ("only photos", "photo", None, None),
        ("photos of Alice", None, None, None),  # "photos" alone restricts nothing
        ("short videos", "video", None, 30.0),
        ("videos longer than a minute", "video", 60.0, None),
        ("clips under 10 seconds", "video", None, 10.0),
    ],
)
def test_the_parser_reads_videos_photos_and_lengths(text, media, low, high):
    from assistant.query.parser import QueryParser

    query = QueryParser({"Alice": []}).parse(text)
    assert (query.media, query.min_seconds, query.max_seconds) == (media, low, high)
    assert query.text == ""  # none of these words is a description for CLIP
    assert query.people_all == (("Alice",) if "Alice" in text else ())


def test_only_videos_only_photos_and_lengths_filter_the_library(tmp_path, tiny_clip_spec):
    photos = tmp_path / "photos"
    write_video(photos / "short.mp4", [scene(SCENES[0])], seconds_each=4.0, created=FILMED)
    write_video(photos / "long.mp4", [scene(n) for n in SCENES], seconds_each=25.0, fps=2)
    shutil.copy(DEMO / "craft-beer.jpg", photos / "beer.jpg")
    lib = Library(tmp_path / "data", clip=tiny_clip_spec, settings=Settings(), faces=False)
    lib.index(photos)

    def names(**kw) -> list[str]:
        return sorted(Path(h.path).name for h in lib.search(Query(raw="q", **kw)).hits)

    assert names(media="video") == ["long.mp4", "short.mp4"]
    assert names(media="photo") == ["beer.jpg"]
    assert names(media="video", max_seconds=30.0) == ["short.mp4"]
    assert names(media="video", min_seconds=60.0) == ["long.mp4"]


def test_the_terminal_chat_gives_a_videos_kind_and_second():
    from assistant.replies import Picture, Reply
    from assistant.terminal import reply_json

    video = Picture(number=1, image="/m.jpg", caption="1.", path="/v/trip.mp4", clip_at=6.0)
    photo = Picture(number=2, image="/t.jpg", caption="2.", path="/p/beer.jpg")
    doc = reply_json(Reply("found", photos=(video, photo)))
    assert doc["photos"] == ["/v/trip.mp4", "/p/beer.jpg"]
    assert doc["videos"] == [{"path": "/v/trip.mp4", "kind": "video", "time_s": 6.0}]


def test_each_kind_of_file_is_hashed_and_decoded_by_its_own_reader(three_scenes):
    """The indexer knows no format: a video's reader hashes it in pieces and samples its
    moments, a photo's reads it once and decodes that buffer (index/readers.py)."""
    video = readers.reader_for(str(three_scenes))
    data, digest = video.digest(str(three_scenes))
    assert data == b"" and digest == scan.file_hash(three_scenes.read_bytes())
    decoded = video.decode(str(three_scenes), data, Settings(), digest, 320)
    assert decoded.kind == "video" and len(decoded.frames) >= 3
    photo = str(DEMO / "craft-beer.jpg")
    still = readers.reader_for(photo)
    data, digest = still.digest(photo)
    assert data == Path(photo).read_bytes() and digest == scan.file_hash(data)
    decoded = still.decode(photo, data, Settings(), digest, 320)
    assert decoded.kind == "photo" and max(decoded.image.size) <= 320 and not decoded.frames
