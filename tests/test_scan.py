"""Reading photos once: formats, orientation, metadata, and every kind of bad file."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from index import scan
from index.settings import Settings
from tests.photo_files import awkward_folder, noise_photo

SETTINGS = Settings()


def decode_file(path: Path) -> scan.Decoded:
    return scan.decode(scan.read_bytes(str(path)), SETTINGS)


@pytest.fixture(scope="module")
def awkward(tmp_path_factory) -> dict[str, Path]:
    return awkward_folder(tmp_path_factory.mktemp("awkward"))


@pytest.mark.parametrize(
    "name, reason",
    [
        ("zero", "empty file"),
        ("truncated", "corrupt or truncated"),
        ("text", "not an image"),
        ("bomb", "too large"),
    ],
)
def test_bad_files_are_refused_with_a_reason(awkward, name, reason):
    with pytest.raises(scan.Unreadable, match=reason):
        decode_file(awkward[name])


@pytest.mark.parametrize("name", ["good", "png16", "cmyk", "gif", "unicode", "webp", "bmp", "tiff"])
def test_unusual_but_valid_files_decode_to_rgb(awkward, name):
    decoded = decode_file(awkward[name])
    assert decoded.image.mode == "RGB"
    assert decoded.width > 0 and decoded.height > 0


def test_sixteen_bit_png_keeps_its_range():
    arr = np.full((10, 10), 65535, dtype=np.uint16)
    rgb = scan.to_rgb(Image.fromarray(arr))
    assert np.asarray(rgb).min() == 255  # white stays white, not clipped or wrapped


def test_animated_gif_uses_its_first_frame(awkward):
    decoded = decode_file(awkward["gif"])
    assert decoded.image.getpixel((10, 10)) == (255, 0, 0)


def test_heic_photos_are_read(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    path = tmp_path / "phone.heic"
    img = Image.new("RGB", (120, 80), (10, 200, 30))
    try:
        pillow_heif.from_pillow(img).save(path, quality=90)
    except (OSError, ValueError, RuntimeError) as err:
        pytest.skip(f"this pillow-heif build cannot encode HEIC ({err})")
    decoded = decode_file(path)
    assert (decoded.width, decoded.height) == (120, 80)


def test_exif_orientation_is_applied_before_anything_sees_pixels(tmp_path):
    path = noise_photo(tmp_path / "rotated.jpg", size=(300, 200), orientation=6)
    decoded = decode_file(path)
    assert (decoded.width, decoded.height) == (200, 300)
    assert decoded.image.size == (200, 300)


def test_exif_capture_time_and_gps_are_read(tmp_path):
    path = noise_photo(
        tmp_path / "trip.jpg", taken=datetime(2019, 7, 14, 12, 30, 5), gps=(48.8584, 2.2945)
    )
    decoded = decode_file(path)
    assert decoded.taken_at == "2019-07-14T12:30:05" and decoded.taken_source == "exif"
    assert decoded.lat == pytest.approx(48.8584, abs=1e-3)
    assert decoded.lon == pytest.approx(2.2945, abs=1e-3)
    assert "France" in scan.place_name(decoded.lat, decoded.lon)


def test_photo_without_exif_date_falls_back_to_file_time(tmp_path):
    decoded = decode_file(noise_photo(tmp_path / "plain.png"))
    assert decoded.taken_at is None and decoded.taken_source == "file"


def test_big_jpeg_is_decoded_at_reduced_scale(tmp_path):
    path = noise_photo(tmp_path / "camera.jpg", size=(4000, 3000))
    decoded = decode_file(path)
    assert (decoded.width, decoded.height) == (4000, 3000)
    assert max(decoded.image.size) <= SETTINGS.face_image_size
    assert decoded.scale == pytest.approx(4000 / max(decoded.image.size))


def test_a_camera_jpeg_decodes_small_at_one_eighth_and_regions_again_in_detail(tmp_path):
    data = noise_photo(tmp_path / "camera.jpg", size=(4000, 3000)).read_bytes()
    small = scan.decode(data, SETTINGS, size=SETTINGS.thumb_size)
    assert small.image.size == (500, 375) and small.scale == 8  # 1/8 draft: 500 of 512 asked
    detail, scale = small.detailed(SETTINGS.face_image_size, SETTINGS)
    assert max(detail.size) == SETTINGS.face_image_size and scale == 4
    # A detailed copy is never smaller than asked (the words stage reads small print).
    assert max(scan.decode(data, SETTINGS, size=1600).image.size) == 1600
    # A photo decoded whole already is its own detailed copy.
    photo = scan.decode(noise_photo(tmp_path / "small.jpg", size=(640, 480)).read_bytes(), SETTINGS)
    assert photo.detailed(SETTINGS.face_image_size, SETTINGS) == (photo.image, 1.0)


def test_walk_skips_hidden_folders_and_survives_symlink_loops(awkward):
    root = awkward["good"].parent
    walked = scan.walk(root)
    names = {Path(f.path).name for f in walked.found}
    assert "secret.jpg" not in names
    assert {"good.jpg", "n.png", "anim.gif"} <= names
    assert sum(1 for f in walked.found if f.path.endswith("n.png")) == 1
    assert any("symlink loop" in p.reason for p in walked.left_out)


def test_walk_excludes_the_data_dir(tmp_path):
    noise_photo(tmp_path / "a.jpg")
    noise_photo(tmp_path / "data" / "thumbs" / "t.jpg")
    found = scan.walk(tmp_path, exclude=(tmp_path / "data",)).found
    assert [Path(f.path).name for f in found] == ["a.jpg"]


def test_walk_reports_an_unreadable_folder_and_goes_on(tmp_path, monkeypatch):
    noise_photo(tmp_path / "ok" / "a.jpg")
    locked = tmp_path / "locked"
    noise_photo(locked / "b.jpg")
    real_scandir = os.scandir

    def scandir(path):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    # Tests run as root here, where chmod 000 does not stop reading: simulate the refusal.
    monkeypatch.setattr(scan.os, "scandir", scandir)
    walked = scan.walk(tmp_path)
    assert [Path(f.path).name for f in walked.found] == ["a.jpg"]
    assert walked.unreadable and "Permission denied" in walked.unreadable[0].reason


def test_non_utf8_file_names_are_found(tmp_path):
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.jpg")
    noise_photo(Path(os.fsdecode(raw)))
    found = scan.walk(tmp_path).found
    assert len(found) == 1
    assert os.fsencode(found[0].path) == raw


@pytest.mark.parametrize("size", [SETTINGS.face_image_size, SETTINGS.thumb_size])
def test_draft_decoding_keeps_image_vectors_close_to_the_full_decode(
    tmp_path, tiny_clip_spec, size
):
    """The fast path (JPEG draft at reduced scale) against the exact reference decode."""
    from eval_photos import eval_dir

    from index.models import ClipModel

    model = ClipModel(tiny_clip_spec)
    fast, exact = [], []
    for src in sorted(eval_dir("captions/images").iterdir())[:6]:
        big = tmp_path / f"{src.stem}.jpg"  # camera-sized, so the draft path is taken
        with Image.open(src) as img:
            img.convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC).save(big, quality=92)
        decoded = scan.decode(big.read_bytes(), SETTINGS, size=size)
        assert max(decoded.image.size) <= size
        fast.append(decoded.image)
        exact.append(scan.open_rgb(big))
    cosine = np.sum(model.encode_images(fast) * model.encode_images(exact), axis=1)
    assert cosine.min() >= 0.99, cosine
