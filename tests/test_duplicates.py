"""Duplicates: exact copies and near-copies grouped, look-alikes kept apart, the one to keep
chosen with a reason, and nothing ever deleted or moved."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from index.duplicates import Look, Rules, find_groups, perceptual_hash
from index.library import Library
from index.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "photos"
RULES = Rules(phash_max_bits=10, max_seconds=120.0, same_second_bits=18, clip_min_cosine=0.85)
NOON = "2021-07-01T12:00:00"


def look(photo_id: int, phash: int, **kw) -> Look:
    base = dict(
        path=f"/p/{photo_id}.jpg",
        content=f"c{photo_id}",
        sharpness=10.0,
        pixels=1000,
        size=100,
        taken_at=NOON,
        stated_time=True,
    )
    return Look(photo_id=photo_id, phash=phash, **{**base, **kw})


def test_exact_copies_are_one_group_whatever_their_hashes_say():
    groups = find_groups([look(1, 0, content="same"), look(2, 2**64 - 1, content="same")], RULES)
    assert len(groups) == 1 and groups[0].kind == "exact"
    assert [m.why for m in groups[0].members] == ["the one to keep", "the same file content"]


def test_a_near_copy_taken_at_the_same_moment_is_grouped_and_the_largest_kept():
    small, large = look(1, 0b1011, pixels=500), look(2, 0b0011, pixels=4000)
    (group,) = find_groups([small, large], RULES)
    assert group.kind == "near" and group.keep == 2 and "largest" in group.why
    assert "1 of 64 hash bits differ" in group.members[1].why


def test_look_alikes_taken_an_hour_apart_are_not_duplicates():
    first = look(1, 0, taken_at="2021-07-01T12:00:00")
    later = look(2, 0b1, taken_at="2021-07-01T13:00:00")
    assert find_groups([first, later], RULES) == []


def test_a_copy_without_a_stated_time_is_judged_by_its_pixels():
    sent = look(2, 0b1, taken_at="2024-01-01T00:00:00", stated_time=False)
    assert len(find_groups([look(1, 0), sent], RULES)) == 1


def test_pictures_whose_hashes_differ_a_lot_are_not_grouped():
    assert find_groups([look(1, 0), look(2, (1 << 11) - 1, stated_time=False)], RULES) == []


def test_a_crop_with_the_same_stated_second_may_differ_more():
    crop = look(2, (1 << 15) - 1)  # 15 bits: too far for a copy, near enough for one shot
    assert len(find_groups([look(1, 0), crop], RULES)) == 1
    a_second_later = look(2, (1 << 15) - 1, taken_at="2021-07-01T12:00:01")
    assert find_groups([look(1, 0), a_second_later], RULES) == []


def test_clip_vectors_can_veto_a_pair_but_never_add_one():
    a, b, c = look(1, 0), look(2, 0b1), look(3, 2**64 - 1)
    apart = {1: np.array([1.0, 0.0]), 2: np.array([0.0, 1.0]), 3: np.array([1.0, 0.0])}
    assert find_groups([a, b, c], RULES, apart) == []  # 1-2 vetoed; 1-3 never close in hash
    alike = {1: np.array([1.0, 0.0]), 2: np.array([1.0, 0.01])}
    assert len(find_groups([a, b], RULES, alike)) == 1


def test_the_one_with_named_people_is_kept_over_a_larger_copy():
    named = look(1, 0, pixels=500, named_faces=1)
    group = find_groups([named, look(2, 0, pixels=9000)], RULES)[0]
    assert group.keep == 1 and "named people" in group.why


def test_sharper_wins_between_copies_of_one_size():
    soft, sharp = look(1, 0, sharpness=3.0), look(2, 0, sharpness=30.0)
    assert find_groups([soft, sharp], RULES)[0].keep == 2


def test_perceptual_hash_survives_a_resize_and_a_reencode():
    img = Image.open(DEMO / "japanese-shop.jpg").convert("RGB")
    half = img.resize((img.width // 2, img.height // 2))
    other = Image.open(DEMO / "el_torcal_rocks.jpg").convert("RGB")
    close = bin(perceptual_hash(img) ^ perceptual_hash(half)).count("1")
    far = bin(perceptual_hash(img) ^ perceptual_hash(other)).count("1")
    assert close <= 4 and far > 20


def write_library(folder: Path) -> Path:
    folder.mkdir()
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = datetime(2021, 7, 1, 12).strftime("%Y:%m:%d %H:%M:%S")
    shop = Image.open(DEMO / "japanese-shop.jpg").convert("RGB")
    shop.save(folder / "shop.jpg", quality=92, exif=exif)
    shop.resize((shop.width // 2, shop.height // 2)).save(folder / "shop_small.jpg", exif=exif)
    shutil.copy(folder / "shop.jpg", folder / "shop copy.jpg")
    shutil.copy(DEMO / "el_torcal_rocks.jpg", folder / "rocks.jpg")
    return folder


def test_a_library_lists_its_duplicates_and_keeps_every_file(tmp_path, tiny_clip_spec):
    photos = write_library(tmp_path / "photos")
    before = sorted(p.name for p in photos.iterdir())
    lib = Library(tmp_path / "data", clip=tiny_clip_spec, settings=Settings(), faces=False)
    lib.index(photos)
    (group,) = lib.duplicates()
    names = [Path(m.path).name for m in group.members]
    assert sorted(names) == ["shop copy.jpg", "shop.jpg", "shop_small.jpg"]
    assert names[-1] == "shop_small.jpg" and Path(names[0]).stem.startswith("shop")
    assert sorted(p.name for p in photos.iterdir()) == before  # nothing deleted or moved


def test_duplicates_command_prints_json_groups(tmp_path, tiny_clip_spec):
    photos = write_library(tmp_path / "photos")
    env = {"PIR_DATA": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    app = [sys.executable, str(ROOT / "app.py")]
    clip = ["--clip", tiny_clip_spec]
    subprocess.run(
        [*app, "index", str(photos), *clip, "--no-faces", "--no-ocr"],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    done = subprocess.run(
        [*app, "duplicates", "--json", *clip], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    (group,) = json.loads(done.stdout)["groups"]
    assert len(group["photos"]) == 3 and group["keep"] in {p["id"] for p in group["photos"]}
    assert all(p["why"] for p in group["photos"])
