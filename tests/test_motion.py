"""Motion photos and Live Photos: the still is the photo; its clip (inside the file, or the
same-name MOV beside it) plays in the larger view and is never a second item."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import av
from PIL import Image

from index import motion, scan
from index.library import Library
from index.settings import Settings
from tests.photo_files import noise_photo
from tests.video_files import write_video

FORMATS = Path(__file__).resolve().parent / "data" / "formats"
SAMSUNG = FORMATS / "samsung-one-ui-6.heic"
DEMO = Path(__file__).resolve().parents[1] / "demo" / "photos"


def scenes() -> list[Image.Image]:
    return [Image.open(DEMO / "craft-beer.jpg"), Image.open(DEMO / "japanese-shop.jpg")]


def test_the_clip_inside_a_samsung_motion_photo_is_found_and_plays():
    data = SAMSUNG.read_bytes()
    start, end = motion.embedded_clip(data)
    with av.open(io.BytesIO(data[start:end])) as clip:
        assert clip.streams.video and 3.0 < clip.duration / 1e6 < 3.3


def test_a_jpeg_motion_photo_with_samsungs_marker_is_found(tmp_path):
    mp4 = write_video(tmp_path / "clip.mp4", scenes(), seconds_each=0.5).read_bytes()
    still = io.BytesIO()
    Image.open(DEMO / "craft-beer.jpg").save(still, "JPEG")
    data = still.getvalue() + b"MotionPhoto_Data" + mp4
    assert motion.embedded_clip(data) == (len(data) - len(mp4), len(data))


def test_a_plain_photo_has_no_clip():
    assert motion.embedded_clip((DEMO / "craft-beer.jpg").read_bytes()) is None


def test_a_mov_beside_a_heic_of_its_name_is_the_live_photos_clip(tmp_path):
    shutil.copy(SAMSUNG, tmp_path / "IMG_0001.HEIC")
    write_video(tmp_path / "IMG_0001.MOV", scenes(), seconds_each=0.5)
    write_video(tmp_path / "holiday.mov", scenes(), seconds_each=0.5)
    walked = scan.walk(tmp_path)
    # The lone MOV is a video of its own; the paired one is not.
    assert [Path(f.path).name for f in walked.found] == ["IMG_0001.HEIC", "holiday.mov"]
    assert walked.companions == {
        str(tmp_path / "IMG_0001.HEIC"): [(str(tmp_path / "IMG_0001.MOV"), "live")]
    }
    assert walked.left_out == []


def test_motion_and_live_photos_are_one_photo_each_whose_clip_plays(tmp_path, tiny_clip_spec):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(SAMSUNG, photos / "motion.heic")
    noise_photo(photos / "IMG_0002.JPG")
    write_video(photos / "IMG_0002.MOV", scenes(), seconds_each=1.0, size=(160, 120))
    lib = Library(tmp_path / "data", clip=tiny_clip_spec, settings=Settings(), faces=False)
    report = lib.index(photos)
    assert report.skipped == [] and report.new == 2 and lib.stats()["photos"] == 2
    for name, kind, seconds in (("motion.heic", "motion", 3.1), ("IMG_0002.JPG", "live", 2.0)):
        row = lib.resolve_photo(name)
        assert lib.photo_info(row["id"])["clip"] == kind
        played = lib.photo_clip(row["id"])
        with av.open(played) as clip:  # H.264, which every browser plays
            assert clip.streams.video[0].codec_context.name == "h264"
            assert abs(clip.duration / 1e6 - seconds) < 0.3
        assert lib.servable_file(played)  # the server may hand it out
    plain = lib.resolve_photo("IMG_0002.JPG")
    assert lib.photo_info(plain["id"])["companions"][0]["role"] == "live"


def test_a_google_motion_photo_is_found_by_the_container_directory_in_its_xmp(tmp_path):
    mp4 = write_video(tmp_path / "clip.mp4", scenes(), seconds_each=0.5).read_bytes()
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description>'
        "<Container:Directory><rdf:Seq>"
        '<rdf:li><Container:Item Item:Semantic="Primary" Item:Mime="image/jpeg"/></rdf:li>'
        f'<rdf:li><Container:Item Item:Semantic="MotionPhoto" Item:Mime="video/mp4" '
        f'Item:Length="{len(mp4)}" Item:Padding="0"/></rdf:li>'
        "</rdf:Seq></Container:Directory></rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()
    still = io.BytesIO()
    Image.open(DEMO / "craft-beer.jpg").save(still, "JPEG", xmp=xmp)
    data = still.getvalue() + mp4
    assert motion.embedded_clip(data) == (len(data) - len(mp4), len(data))
    # Only the photo's header is searched for that XMP: the same words inside the picture
    # data of a plain photo name no clip.
    plain = io.BytesIO()
    Image.open(DEMO / "craft-beer.jpg").save(plain, "JPEG")
    body = plain.getvalue()
    assert motion.embedded_clip(body[:-2] + xmp + body[-2:] + mp4) is None
