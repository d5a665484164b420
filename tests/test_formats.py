"""Every still a camera or phone makes: AVIF, JPEG XL, HEIC and camera RAW (through LibRaw),
a RAW+JPEG pair as one photo, and every other file listed as skipped with its reason."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import rawpy
from PIL import Image

from index import raw, readers, scan
from index.library import Library
from index.settings import Settings
from tests.photo_files import noise_photo
from tests.raw_files import write_dng

FORMATS = Path(__file__).resolve().parent / "data" / "formats"
DEMO = Path(__file__).resolve().parents[1] / "demo" / "photos"
SETTINGS = Settings()
TAKEN = datetime(2021, 5, 4, 13, 2, 1)
EIFFEL = (48.8584, 2.2945)


def picture(size: tuple[int, int]) -> Image.Image:
    """A real photo (not noise), so colours and shapes survive a RAW round trip."""
    return Image.open(DEMO / "craft-beer.jpg").convert("RGB").resize(size)


def decode(path: Path) -> scan.Decoded:
    return scan.decode(path.read_bytes(), SETTINGS, name=path.name)


@pytest.mark.parametrize(
    "name, size", [("8bit-sRGB.avif", (1617, 1080)), ("8bit-sRGB.jxl", (1440, 1080))]
)
def test_avif_and_jpeg_xl_decode_like_any_photo(name, size):
    decoded = decode(FORMATS / name)
    assert (decoded.width, decoded.height) == size
    assert decoded.image.mode == "RGB" and max(decoded.image.size) == SETTINGS.face_image_size
    assert np.asarray(decoded.image).std() > 10  # a picture, not a blank


def test_a_dng_is_a_real_raw_file_libraw_reads(tmp_path):
    path = write_dng(tmp_path / "a.dng", picture((640, 480)))
    with rawpy.imread(str(path)) as r:
        assert (r.sizes.raw_width, r.sizes.raw_height) == (640, 480)
        assert r.raw_pattern.tolist() == [[0, 1], [3, 2]]  # RGGB


def test_raw_with_a_large_preview_shows_the_preview_with_the_raws_exif(tmp_path):
    path = write_dng(
        tmp_path / "IMG_1.dng",
        picture((640, 480)),
        preview=picture((1600, 1200)),
        taken=TAKEN,
        gps=EIFFEL,
        orientation=6,  # held upright: the sensor's landscape frame turned a quarter
    )
    still = raw.read_raw(path.read_bytes(), SETTINGS.raw_preview_min_size)
    assert still.source == "preview"
    assert still.image.size == (1200, 1600)  # the preview, turned upright
    decoded = decode(path)
    assert (decoded.width, decoded.height) == (480, 640)
    assert decoded.taken_at == TAKEN.isoformat() and decoded.taken_source == "exif"
    assert decoded.lat == pytest.approx(EIFFEL[0], abs=1e-3)
    assert "Paris" in decoded.place


def test_a_big_raw_is_hashed_beside_its_decode_to_the_same_hash_and_picture(tmp_path):
    """A camera RAW (25 MB and more) is hashed by a helper thread while its preview decodes
    (index/readers.py): the photo carries the file's hash and the picture of a decode done
    after the hash, one step at a time."""
    path = write_dng(tmp_path / "IMG_3.dng", picture((2400, 1800)), preview=picture((2400, 1800)))
    assert path.stat().st_size >= readers.HASH_BESIDE_BYTES  # the helper thread's case
    digest, decoded = readers.read_and_decode(str(path), SETTINGS, SETTINGS.face_image_size)
    data, alone = readers.reader_for(str(path)).digest(str(path))
    assert digest == decoded.hash == alone == scan.file_hash(path.read_bytes())
    one_by_one = scan.decode(data, SETTINGS, alone, SETTINGS.face_image_size, name=path.name)
    assert decoded.image.size == one_by_one.image.size
    assert np.array_equal(np.asarray(decoded.image), np.asarray(one_by_one.image))


def test_raw_with_a_small_preview_is_developed_at_half_size(tmp_path):
    path = write_dng(tmp_path / "small.dng", picture((640, 480)), preview=picture((320, 240)))
    still = raw.read_raw(path.read_bytes(), SETTINGS.raw_preview_min_size)
    assert still.source == "demosaic" and still.image.size == (320, 240)
    # The developed picture is the scene the sensor saw: close to the original in colour.
    developed = np.asarray(still.image, dtype=np.float64).mean(axis=(0, 1))
    original = np.asarray(picture((320, 240)), dtype=np.float64).mean(axis=(0, 1))
    assert np.abs(developed - original).max() < 40


def test_a_broken_raw_is_skipped_with_a_reason(tmp_path):
    path = tmp_path / "broken.nef"
    path.write_bytes(b"II*\x00" + b"\x00" * 200)
    with pytest.raises(scan.Unreadable, match="RAW"):
        decode(path)


def test_walk_pairs_a_raw_with_its_jpeg_and_lists_every_other_file(tmp_path):
    noise_photo(tmp_path / "IMG_2.JPG")
    write_dng(tmp_path / "IMG_2.DNG", picture((64, 48)))
    write_dng(tmp_path / "lonely.dng", picture((64, 48)))
    (tmp_path / "notes.txt").write_text("shopping list")
    (tmp_path / "IMG_2.JPG.xmp").write_text("<x:xmpmeta/>")
    walked = scan.walk(tmp_path)
    assert sorted(Path(f.path).name for f in walked.found) == ["IMG_2.JPG", "lonely.dng"]
    assert walked.companions == {
        str(tmp_path / "IMG_2.JPG"): [(str(tmp_path / "IMG_2.DNG"), "raw")]
    }
    reasons = {Path(p.path).name: p.reason for p in walked.left_out}
    assert reasons == {"notes.txt": "not a photo or video format this program reads (.txt)"}


def test_a_library_of_every_still_format_is_catalogued_once_each(tmp_path, tiny_clip_spec):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("8bit-sRGB.avif", "8bit-sRGB.jxl", "samsung-one-ui-6.heic"):
        shutil.copy(FORMATS / name, photos / name)
    noise_photo(photos / "DSC_7.jpg", taken=TAKEN)
    write_dng(photos / "DSC_7.dng", picture((640, 480)), taken=TAKEN)
    write_dng(photos / "alone.dng", picture((640, 480)), preview=picture((1200, 900)), taken=TAKEN)
    lib = Library(tmp_path / "data", clip=tiny_clip_spec, settings=Settings(), faces=False)
    report = lib.index(photos)
    assert report.skipped == [] and report.new == 5 and report.companions == 1
    stats = lib.stats()
    assert stats["photos"] == 5 and stats["vectors"] == 5
    assert stats["formats"] == {
        "avif": 1, "dng": 1, "heic": 1, "jpg": 1, "jxl": 1, "raw companions": 1,
    }  # fmt: skip
    pair = lib.resolve_photo("DSC_7.jpg")
    assert lib.photo_info(pair["id"])["companions"] == [
        {"path": str(photos / "DSC_7.dng"), "role": "raw"}
    ]
    for name in ("8bit-sRGB.avif", "8bit-sRGB.jxl", "samsung-one-ui-6.heic", "alone.dng"):
        row = lib.resolve_photo(name)
        assert row["taken_at"] and lib.thumbnail(row), name
    assert lib.resolve_photo("alone.dng")["taken_at"] == TAKEN.isoformat()
    # The RAW removed: the JPEG stays one photo, with no companion left.
    (photos / "DSC_7.dng").unlink()
    again = lib.index(photos)
    assert again.unchanged == 5 and again.companions == 0
    assert lib.photo_info(pair["id"])["companions"] == []
