"""Dates when EXIF has none: XMP, file names, folder names, the file time only last."""

from __future__ import annotations

from datetime import datetime

import pytest

from index import capture_dates as dates

NOW = datetime(2026, 12, 1)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("IMG_20190615_123045.jpg", "2019-06-15T12:30:45"),
        ("PXL_20190615_123045123.jpg", "2019-06-15T12:30:45"),
        ("PXL_20190615_123045123.MP.jpg", "2019-06-15T12:30:45"),
        ("IMG-20190615-WA0001.jpg", "2019-06-15T00:00:00"),
        ("VID-20190615-WA0003.jpg", "2019-06-15T00:00:00"),
        ("2019-06-15 12.30.45.jpg", "2019-06-15T12:30:45"),
        ("Screenshot_2019-06-15-12-30-45.png", "2019-06-15T12:30:45"),
        ("Screenshot_20190615-123045.png", "2019-06-15T12:30:45"),
        ("Screenshot 2019-06-15 at 12.30.45.png", "2019-06-15T12:30:45"),
        ("20190615_123045.jpg", "2019-06-15T12:30:45"),
        ("photo_2019-06-15_12-30-45.jpg", "2019-06-15T12:30:45"),
        ("signal-2019-06-15-123045.jpg", "2019-06-15T12:30:45"),
        ("2019_06_15.jpg", "2019-06-15T00:00:00"),
        ("Holiday 2019.06.15.jpg", "2019-06-15T00:00:00"),
        ("IMG_1234.JPG", None),
        ("DSC_0042.jpg", None),
        ("P1020304.JPG", None),
        ("cat.jpg", None),
        ("2019.jpg", None),
        ("IMG_20190230_101010.jpg", None),  # no 30 February
        ("IMG_20191315_101010.jpg", None),  # no month 13
        ("IMG_20290615_120000.jpg", None),  # years ahead: garbage, not a date
        ("120190615999.jpg", None),  # digits glued in front: a counter, not a date
        ("IMG_20190615_256199.jpg", "2019-06-15T00:00:00"),  # not a time: the date alone
    ],
)
def test_file_names_give_these_dates(name, expected):
    when = dates.from_name(name, now=NOW)
    assert (when.isoformat() if when else None) == expected


@pytest.mark.parametrize(
    "folders, expected",
    [
        (["2019", "06"], "2019-06-01"),
        (["2019", "06", "15"], "2019-06-15"),
        (["2019", "6 June"], "2019-06-01"),
        (["2019-06-15 Paris"], "2019-06-15"),
        (["Trips", "2019_06 Rome"], "2019-06-01"),
        (["2019"], "2019-01-01"),
        (["Photos", "2018", "Birthday"], "2018-01-01"),
        (["2018", "2019-06-15 Paris"], "2019-06-15"),  # the innermost, most precise, wins
        (["Family", "Summer"], None),
        (["2019", "Summer", "06"], "2019-01-01"),  # '06' under 'Summer' is not a month
        (["12345"], None),
    ],
)
def test_folder_names_give_these_dates(folders, expected):
    when = dates.from_folders(folders, now=NOW)
    assert (when.date().isoformat() if when else None) == expected


def test_xmp_dates_in_attribute_and_element_form():
    attr = b'<rdf:Description exif:DateTimeOriginal="2017-08-01T09:15:00+02:00"/>'
    elem = b"<xmp:CreateDate>2016-05-04T10:11:12</xmp:CreateDate>"
    assert dates.from_xmp(attr, NOW) == datetime(2017, 8, 1, 9, 15)  # wall time, as EXIF
    assert dates.from_xmp(elem, NOW) == datetime(2016, 5, 4, 10, 11, 12)
    assert dates.from_xmp(b"<x:xmpmeta/>", NOW) is None


def test_sources_are_tried_in_order_xmp_name_folder():
    root = "/lib"
    xmp = b"<xmp:CreateDate>2015-01-02T03:04:05</xmp:CreateDate>"
    path = "/lib/2019/06/IMG_20180101_000000.jpg"
    assert dates.from_path(path, root, xmp, NOW)[1] == "xmp"
    assert dates.from_path(path, root, None, NOW) == (datetime(2018, 1, 1), "filename")
    assert dates.from_path("/lib/2019/06/cat.jpg", root, None, NOW) == (
        datetime(2019, 6, 1),
        "folder",
    )
    assert dates.from_path("/lib/pets/cat.jpg", root, None, NOW) is None


def test_the_library_folder_own_name_counts_as_a_folder():
    assert dates.from_path(
        "/home/me/2019-06-15 Paris/a.jpg", "/home/me/2019-06-15 Paris", None, NOW
    ) == (
        datetime(2019, 6, 15),
        "folder",
    )


def test_a_year_query_ranks_file_time_dates_last_and_says_where_each_date_came_from(
    tmp_path, tiny_clip_spec
):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from index.library import Library
    from index.settings import Settings
    from index.types import DateRange, Query
    from tests.photo_files import noise_photo

    photos = tmp_path / "photos"
    copied = noise_photo(photos / "copied.jpg", seed=1)  # a copy made "in 2019": file time only
    stamp = datetime(2019, 12, 30).timestamp()
    os.utime(copied, (stamp, stamp))
    noise_photo(photos / "IMG_20190301_100000.jpg", seed=2)
    noise_photo(photos / "camera.jpg", seed=3, taken=datetime(2019, 2, 1, 9, 0, 0))
    data = tmp_path / "data"
    with Library(data, clip=tiny_clip_spec, settings=Settings(), faces=False) as lib:
        lib.index(photos)
        year = DateRange(datetime(2019, 1, 1), datetime(2020, 1, 1), "2019")
        hits = lib.search(Query(raw="2019", dates=year)).hits
    names = [Path(h.path).name for h in hits]
    # Newest first among the certain dates; the file-time one last although it is newest.
    assert names == ["IMG_20190301_100000.jpg", "camera.jpg", "copied.jpg"]
    assert "from the file name" in hits[0].reasons[-1]
    assert "EXIF" in hits[1].reasons[-1]
    assert "uncertain" in hits[2].reasons[-1]
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run(
        [sys.executable, "app.py", "search", "photos from 2019", "--explain", "--data", str(data)],
        cwd=root, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "date: 2019-03-01 10:00:00 (from the file name)" in r.stdout
    assert "uncertain" in r.stdout
