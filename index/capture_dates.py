"""When a photo was taken, when its EXIF does not say: XMP, file name, folder, file time.

The rules, most trusted first (the first that gives a date wins):
1. EXIF DateTimeOriginal / DateTimeDigitized / DateTime (read in scan.py);
2. XMP: `exif:DateTimeOriginal`, `xmp:CreateDate` or `photoshop:DateCreated`, embedded in
   the file or in a sidecar (`photo.jpg.xmp` or `photo.xmp`);
3. the file name: `IMG_20190615_123045`, `PXL_20190615_…`, `IMG-20190615-WA0001`,
   `2019-06-15 12.30.45`, `Screenshot_2019-06-15-12-30-45`, `20190615_123045`, …;
4. the folders it sits in: `2019-06-15 Paris`, `2019/06/15`, `2019/06`, `2019_06`, `2019`;
5. the file's modification time — last, because a copy made today carries today's time.

Each date is recorded with its source; only "file" is uncertain (search says so and ranks
such photos after dated ones for a date query). Dates before 1900 or after next year are
taken as garbage, whatever their source.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import PurePath

SOURCES = ("exif", "xmp", "filename", "folder", "file")
UNCERTAIN = "file"
EARLIEST_YEAR = 1900
XMP_SCAN_BYTES = 256 * 1024  # embedded XMP sits near the start of a file

_DATE = r"(?P<y>(?:19|20)\d\d)(?P<s1>[-_.]?)(?P<m>0[1-9]|1[0-2])(?P=s1)(?P<d>0[1-9]|[12]\d|3[01])"
_TIME = r"(?:[-_ T.]|\sat\s)(?P<H>[01]\d|2[0-3])(?P<s2>[-_.:h]?)(?P<M>[0-5]\d)(?P=s2)(?P<S>[0-5]\d)"
# A date not glued to other digits in front; a time (when there is one) right after it.
NAME_DATE = re.compile(rf"(?<!\d){_DATE}(?:{_TIME}|(?!\d))", re.IGNORECASE)
YEAR = re.compile(r"^(?:19|20)\d\d$")
MONTH = re.compile(r"^(0?[1-9]|1[0-2])(?:\b|[ _-])")
DAY = re.compile(r"^(0?[1-9]|[12]\d|3[01])(?:\b|[ _-])")
YEAR_MONTH = re.compile(r"^((?:19|20)\d\d)[-_.](0[1-9]|1[0-2])(?!\d)")
XMP_DATE = re.compile(
    rb"(?:exif:DateTimeOriginal|xmp:CreateDate|photoshop:DateCreated)"
    rb"(?:\s*=\s*[\"']|>)\s*(\d{4}-\d\d-\d\d(?:T\d\d:\d\d(?::\d\d)?)?)"
)


def from_name(name: str, now: datetime | None = None) -> datetime | None:
    """The date (and time, when given) a file name carries, e.g. IMG_20190615_123045.jpg."""
    stem = PurePath(name).stem
    for m in NAME_DATE.finditer(stem):
        when = _make(m.group("y"), m.group("m"), m.group("d"), now)
        if when is None:
            continue
        if m.group("H") is not None:
            when = when.replace(
                hour=int(m.group("H")), minute=int(m.group("M")), second=int(m.group("S"))
            )
        return when
    return None


def from_folders(folders: list[str], now: datetime | None = None) -> datetime | None:
    """The date folder names give, innermost most precise: ['2019', '06', '15 Paris'],
    ['2019-06-15 Paris'], ['Trips', '2019_06'], ['2019'] (its first day)."""
    best: datetime | None = None
    year = month = None
    for part in folders:
        full = from_name(part, now)
        if full is not None:
            best, year, month = full.replace(hour=0, minute=0, second=0), full.year, full.month
            continue
        if (ym := YEAR_MONTH.match(part)) is not None:
            year, month = int(ym.group(1)), int(ym.group(2))
            best = _make(year, month, 1, now) or best
            continue
        if YEAR.match(part):
            year, month = int(part), None
            best = _make(year, 1, 1, now) or best
            continue
        if year is not None and month is None and (mm := MONTH.match(part)):
            month = int(mm.group(1))
            best = _make(year, month, 1, now) or best
            continue
        if year is not None and month is not None and (dd := DAY.match(part)):
            best = _make(year, month, int(dd.group(1)), now) or best
            continue
        year = month = None  # an unrelated folder breaks a 2019/06/15 chain
    return best


def from_xmp(data: bytes, now: datetime | None = None) -> datetime | None:
    """The capture date in XMP text (a sidecar, or the XMP packet inside an image file)."""
    m = XMP_DATE.search(data)
    if m is None:
        return None
    text = m.group(1).decode("ascii")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if plausible(when, now) else None


def embedded_xmp(data: bytes) -> bytes | None:
    """The XMP packet of an image file's bytes, if it has one near its start."""
    head = data[:XMP_SCAN_BYTES]
    start = head.find(b"<x:xmpmeta")
    if start < 0:
        return None
    end = head.find(b"</x:xmpmeta>", start)
    return head[start : end if end > 0 else len(head)]


def sidecar_paths(path: str) -> list[str]:
    """Where an XMP sidecar of `path` may be: photo.jpg.xmp (darktable), photo.xmp (Lightroom)."""
    p = PurePath(path)
    return [f"{path}.xmp", str(p.with_suffix(".xmp")), f"{path}.XMP", str(p.with_suffix(".XMP"))]


def from_path(
    path: str, root: str, xmp: bytes | None, now: datetime | None = None
) -> tuple[datetime, str] | None:
    """The best date without EXIF and without the file time: XMP, then name, then folders."""
    if xmp and (when := from_xmp(xmp, now)) is not None:
        return when, "xmp"
    if (when := from_name(PurePath(path).name, now)) is not None:
        return when, "filename"
    rel = PurePath(path).relative_to(root) if _under(path, root) else PurePath(path)
    folders = (
        [PurePath(root).name, *rel.parts[:-1]] if _under(path, root) else list(rel.parts[1:-1])
    )
    if (when := from_folders([f for f in folders if f], now)) is not None:
        return when, "folder"
    return None


def _under(path: str, root: str) -> bool:
    return path.startswith(root.rstrip("/") + "/")


def _make(y, m, d, now: datetime | None) -> datetime | None:
    try:
        when = datetime(int(y), int(m), int(d))
    except ValueError:
        return None  # 2019-02-30
    return when if plausible(when, now) else None


def plausible(when: datetime, now: datetime | None = None) -> bool:
    """Whether a date can be a capture time (not before 1900, not after next year)."""
    now = now or datetime.now()
    return EARLIEST_YEAR <= when.year <= now.year + 1
