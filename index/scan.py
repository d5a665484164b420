"""Finding photos on disk and reading each one once: identity, EXIF, pixels, thumbnail."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from index import capture_dates, formats, motion, storage
from index.raw import RawUnreadable, read_raw
from index.settings import Settings

IMAGE_SUFFIXES = formats.MEDIA_SUFFIXES  # every still (camera RAW included) and video
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATE_TAGS = (36867, 36868)  # DateTimeOriginal, DateTimeDigitized
IFD0_DATETIME = 306

BIG_CITY_POPULATION = 500_000  # a city this big names its surroundings too
BIG_CITY_KM = 25  # ... within this distance

_geocode_lock = threading.Lock()


@dataclass
class Decoded:
    """One photo read once: metadata plus an oriented RGB copy sized for the models."""

    hash: str
    width: int  # original, after EXIF orientation
    height: int
    taken_at: str | None
    taken_source: str  # see index/capture_dates.py: exif, xmp, filename, folder or file
    lat: float | None
    lon: float | None
    place: str | None  # reverse geocoded from lat/lon, offline
    image: Image.Image  # RGB, oriented, longest side <= the decode size asked for
    scale: float  # original longest side / image longest side
    clip: tuple[int, int] | None = None  # a motion photo's MP4: (start, end) in the file
    kind: str = "photo"  # or "video" (then `image` is its poster frame)
    duration_s: float | None = None  # a video's length
    # A video's sampled moments (index/videos.Moment: time and picture), in time order.
    frames: list = field(default_factory=list)
    # The file's bytes while the stages work on it, so that one may ask a more detailed
    # copy of a region (`detailed`); the indexer drops them once the stages are done.
    source: bytes | None = field(default=None, repr=False)
    name: str = ""  # the file's name, for reading `source` again (a RAW goes through LibRaw)

    def detailed(self, longest: int, settings: Settings) -> tuple[Image.Image, float]:
        """A copy whose longest side is up to `longest` px (no larger than the original),
        with its scale (original / copy): `image` itself when that is big enough, else the
        file decoded again at that size (a JPEG at its cheapest draft scale). For work on
        a few regions (face vectors and crops) of a photo analysed on a small shared copy.
        """
        wanted = min(longest, max(self.width, self.height))
        if self.source is None or max(self.image.size) >= wanted:
            return self.image, self.scale
        img, _exif, width, height = _pixels(self.source, settings, wanted, self.name, 1.0)
        return img, max(width, height) / max(img.size)


class Unreadable(Exception):
    """This file cannot be used as a photo; the message is the reason to record."""


class Vanished(Unreadable):
    """The file was deleted between the walk and the read: nothing to record."""


@dataclass(frozen=True)
class FoundFile:
    """A candidate photo found by the walk."""

    path: str  # OS path (may hold surrogate escapes for undecodable names)
    size: int
    mtime_ns: int
    ctime_ns: int = 0  # changes on chmod/chown too: a file made readable again is retried


@dataclass(frozen=True)
class WalkProblem:
    """Something the walk could not enter or read, or chose to leave out, and why."""

    path: str
    reason: str


@dataclass
class WalkResult:
    """What one walk found: candidate photos, folders it could not read, entries left out."""

    found: list[FoundFile]
    unreadable: list[WalkProblem]  # photos catalogued under these are out of sight, not gone
    left_out: list[WalkProblem]  # links leading outside, special files, duplicates, others
    # main photo path -> [(companion path, role)]: the RAW of a RAW+JPEG pair ("raw")
    companions: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


# Kernel and device trees: never photos, and reading them can hang or leak other processes'
# files (/proc/<pid>/cwd). Refused by path and by filesystem, so a bind mount is caught too.
PSEUDO_ROOTS = ("/proc", "/sys", "/dev")
SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def walk(root: Path, exclude: tuple[Path, ...] = ()) -> WalkResult:
    """Every image file under `root`, staying inside it.

    Rules: hidden entries and `exclude` are passed over (hidden photos and folders are
    listed); a symlink is followed only when its
    target resolves inside `root` (and not into an excluded folder), and each real file or
    folder is taken once, under its own path before any link to it; /proc, /sys and /dev are
    never entered; special files (FIFOs, devices, sockets) are never opened. Everything left
    out is listed with its reason.
    """
    root_real = os.path.realpath(root)
    result = WalkResult([], [], [])
    walker = _Walker(root_real, exclude, result)
    if _is_pseudo(root_real, walker.pseudo_devs):
        result.left_out.append(WalkProblem(str(root), "a system folder, never indexed"))
        return result
    walker.folder(root_real)
    # Links last: a real folder or file is taken under its own path, a link only adds what
    # the plain tree does not reach (e.g. a folder inside a hidden one).
    while walker.links:
        link = walker.links.pop(0)
        walker.follow(link)
    pair_companions(result)
    return result


class _Walker:
    """The state of one walk: what was seen, links to follow afterwards."""

    def __init__(self, root: str, exclude: tuple[Path, ...], result: WalkResult):
        self.root = root
        self.result = result
        self.excluded = [os.path.realpath(p) for p in exclude]
        self.pseudo_devs = set()
        for p in PSEUDO_ROOTS:
            try:
                self.pseudo_devs.add(os.stat(p).st_dev)
            except OSError:
                continue  # not on this system
        self.seen: set[tuple[int, int]] = set()  # (dev, inode) of folders and files taken
        self.links: list[str] = []

    def left_out(self, path: str, reason: str) -> None:
        self.result.left_out.append(WalkProblem(path, reason))

    def folder(self, folder: str, real: str | None = None) -> None:
        """Walk one folder tree without following links (those are queued)."""
        stack = [folder]
        while stack:
            current = stack.pop()
            try:
                st = os.stat(current)
                entries = sorted(os.scandir(current), key=lambda e: e.name)
            except OSError as err:
                self.result.unreadable.append(
                    WalkProblem(
                        current, f"cannot read folder: {err.strerror or err} (check permissions)"
                    )
                )
                continue
            if (st.st_dev, st.st_ino) in self.seen:
                continue
            self.seen.add((st.st_dev, st.st_ino))
            subdirs = []
            for entry in entries:
                if entry.name.startswith("."):
                    self.hidden(entry)
                    continue
                try:
                    if entry.is_symlink():
                        self.links.append(entry.path)
                    elif entry.is_dir(follow_symlinks=False):
                        if self._enterable(entry.path, entry.stat(follow_symlinks=False)):
                            subdirs.append(entry.path)
                    elif entry.is_file(follow_symlinks=False) and not _is_image_name(entry.name):
                        self.not_media(entry.path)  # no stat needed
                    else:
                        self.file(entry.path, entry.stat(follow_symlinks=False))
                except OSError as err:
                    self.result.unreadable.append(
                        WalkProblem(entry.path, f"cannot read: {err.strerror or err}")
                    )
            stack.extend(reversed(subdirs))

    def hidden(self, entry: os.DirEntry) -> None:
        """A hidden entry is passed over: a hidden photo is listed, a hidden folder (.git,
        .thumbnails) is listed once, without what is inside it (the data dir: silently)."""
        try:
            folder = entry.is_dir(follow_symlinks=False)
        except OSError:
            folder = False
        if folder and not any(_inside(os.path.realpath(entry.path), ex) for ex in self.excluded):
            self.left_out(
                entry.path,
                "a hidden folder (its name starts with a dot), not looked into; rename it to "
                "index the photos in it",
            )
        elif not folder and _is_image_name(entry.name):
            self.left_out(
                entry.path, "a hidden file (its name starts with a dot); rename it to index it"
            )

    def not_media(self, path: str) -> None:
        """A file that is no photo this program reads: listed with the reason (a sidecar,
        read beside its photo, is not)."""
        if not formats.is_sidecar(path):
            self.left_out(path, formats.unsupported_reason(path))

    def _enterable(self, path: str, st: os.stat_result) -> bool:
        real = os.path.realpath(path)
        if any(_inside(real, ex) for ex in self.excluded):
            return False  # the data dir: our own files, silently passed over
        if _is_pseudo(real, self.pseudo_devs, st):
            self.left_out(path, "a system folder (/proc, /sys or /dev), never indexed")
            return False
        return True

    def file(self, path: str, st: os.stat_result, via: str | None = None) -> None:
        """Take one file if it is a regular image file not taken before."""
        shown = via or path
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in SPECIAL_KINDS if test(st.st_mode)), None)
            if kind is not None:  # never opened: reading a FIFO or a device can hang forever
                self.left_out(shown, f"not a regular file but {kind}; never opened")
            return
        if not _is_image_name(shown):
            self.not_media(shown)
            return
        key = (st.st_dev, st.st_ino)
        if key in self.seen:
            self.left_out(shown, "the same file is already indexed under another name (a link)")
            return
        self.seen.add(key)
        self.result.found.append(FoundFile(shown, st.st_size, st.st_mtime_ns, st.st_ctime_ns))

    def follow(self, link: str) -> None:
        """A symlink: taken only when it resolves inside the library root."""
        target = os.path.realpath(link)
        if not _inside(target, self.root):
            self.left_out(link, f"a symlink to {path_repr(target)}, outside the library folder")
            return
        if any(_inside(target, ex) for ex in self.excluded):
            self.left_out(link, "a symlink into the program's data folder")
            return
        try:
            st = os.stat(target)
        except OSError as err:
            self.left_out(link, f"a broken symlink ({err.strerror or err})")
            return
        if stat.S_ISDIR(st.st_mode):
            if (st.st_dev, st.st_ino) in self.seen:
                loop = _inside(os.path.realpath(os.path.dirname(link)), target)
                why = "symlink loop" if loop else "a symlink to a folder indexed under its own path"
                self.left_out(link, why)
            elif self._enterable(link, st):
                # Walk the target under the link's own name (what the user sees in the folder).
                self.folder(link)
        else:
            self.file(target, st, via=link)


def _is_image_name(name: str) -> bool:
    return formats.is_media(name)


def pair_companions(result: WalkResult) -> None:
    """A RAW or a MOV beside a JPEG or HEIC of the same name is part of that photo: the
    photo stays in `found`, the RAW ("raw") or the Live Photo's clip ("live") becomes its
    companion (listed in its details, never a second hit or a skipped file)."""
    developed: dict[tuple[str, str], str] = {}
    for f in result.found:
        if formats.suffix(f.path) in formats.PAIRED_DEVELOPED:
            developed.setdefault(_pair_key(f.path), f.path)

    def main_of(path: str, role: str) -> str | None:
        main = developed.get(_pair_key(path))
        if main is not None:
            result.companions.setdefault(main, []).append((path, role))
        return main

    def companion(path: str) -> bool:
        role = "raw" if formats.is_raw(path) else "live" if formats.is_live_clip(path) else None
        return role is not None and main_of(path, role) is not None

    result.found = [f for f in result.found if not companion(f.path)]


def _pair_key(path: str) -> tuple[str, str]:
    folder, name = os.path.split(path)
    return folder, os.path.splitext(name)[0].lower()


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _is_pseudo(real: str, pseudo_devs: set[int], st: os.stat_result | None = None) -> bool:
    if any(_inside(real, p) for p in PSEUDO_ROOTS):
        return True
    try:
        st = st or os.stat(real)
    except OSError:
        return False
    return st.st_dev in pseudo_devs


def path_repr(path: str) -> str:
    """A path fit for a message (undecodable bytes as escapes)."""
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def file_hash(data: bytes) -> str:
    """Content hash used to recognise a moved or renamed photo."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def read_bytes(path: str) -> bytes:
    """The whole file; a vanished or unreadable file becomes `Unreadable`."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError as err:
        raise Vanished("the file disappeared while indexing") from err
    except OSError as err:
        raise Unreadable(f"cannot read the file: {err.strerror or err}") from err


def decode(
    data: bytes,
    settings: Settings,
    digest: str | None = None,
    size: int | None = None,
    name: str = "",
    draft_share: float | None = None,
) -> Decoded:
    """Decode once, at reduced scale where the format allows; everything else derives from it.

    `size` is the longest side the callers need (default: what face detection needs); `name`
    (the file's name) says whether it is a camera RAW, read through LibRaw.

    A small copy (no larger than face detection's) may come out smaller than `size`, down to
    `draft_share` of it (default: the setting), when a cheaper JPEG draft scale gives that:
    a 4000 px photo decodes at 1/8 (500 px) for 512 or 640. A detailed copy (words) never.
    """
    if not data:
        raise Unreadable("empty file (0 bytes)")
    target = size or settings.face_image_size
    if draft_share is None:
        small = target <= settings.face_detect_size
        draft_share = settings.decode_draft_share if small else 1.0
    img, exif, width, height = _pixels(data, settings, target, name, draft_share)
    scale = max(width, height) / max(img.size)
    taken_at, source = _taken_at(exif, data)
    lat, lon = _gps(exif)
    return Decoded(
        hash=file_hash(data) if digest is None else digest,
        width=width,
        height=height,
        taken_at=taken_at,
        taken_source=source,
        lat=lat,
        lon=lon,
        place=place_name(lat, lon),
        image=img,
        scale=scale,
        clip=None if formats.is_raw(name) else motion.embedded_clip(data),
        source=data,
        name=name,
    )


def _pixels(
    data: bytes, settings: Settings, target: int, name: str, draft_share: float
) -> tuple[Image.Image, Image.Exif, int, int]:
    """(oriented RGB copy no longer than `target`, EXIF, full oriented width, height)."""
    if formats.is_raw(name):
        try:
            still = read_raw(data, settings.raw_preview_min_size, target)
        except RawUnreadable as err:
            raise Unreadable(str(err)) from err
        img, exif, width, height = still.image, still.exif, still.width, still.height
    else:
        img, exif, width, height = _open_pillow(data, settings, target, draft_share)
    if max(img.size) > target:
        img.thumbnail((target, target), Image.Resampling.BICUBIC)
    return img, exif, width, height


def _open_pillow(
    data: bytes, settings: Settings, target: int, draft_share: float = 1.0
) -> tuple[Image.Image, Image.Exif, int, int]:
    """(oriented RGB picture, EXIF, full oriented width, height) of a format Pillow reads."""
    formats.register_plugins()
    try:
        img = Image.open(io.BytesIO(data))
        width, height = img.size
        if width * height > settings.max_pixels:
            raise Unreadable(
                f"image too large ({width}×{height} pixels, limit {settings.max_pixels:,}); "
                "possibly a decompression bomb"
            )
        exif = img.getexif()
        orientation = exif.get(0x0112, 1)
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        if img.format == "JPEG" and max(img.size) > target:
            # Draft decoding at 1/2, 1/4 or 1/8 scale costs a fraction of a full decode.
            ratio = target * draft_share / max(img.size)
            img.draft("RGB", (max(1, int(img.width * ratio)), max(1, int(img.height * ratio))))
        img.seek(0)  # first frame of animations
        img.load()
        img = ImageOps.exif_transpose(img)
        img = to_rgb(img)
    except Unreadable:
        raise
    except Image.DecompressionBombError as err:
        raise Unreadable(f"image too large, possibly a decompression bomb ({err})") from err
    except UnidentifiedImageError as err:
        raise Unreadable("not an image, or an image format this program cannot read") from err
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise Unreadable(f"corrupt or truncated image ({err})") from err
    return img, exif, width, height


def open_rgb(path: str | Path, settings: Settings | None = None) -> Image.Image:
    """A photo at full resolution, EXIF-rotated and RGB (for exact reference paths and faces).

    A camera RAW gives its large preview, else its half-size demosaic.
    """
    if formats.is_raw(os.fspath(path)):
        with open(path, "rb") as f:
            data = f.read()
        return read_raw(data, (settings or Settings()).raw_preview_min_size).image
    formats.register_plugins()
    with Image.open(path) as img:
        img.seek(0)
        img.load()
        return to_rgb(ImageOps.exif_transpose(img))


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB pixels from any mode: 16-bit to 8-bit, CMYK converted, transparency on white."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0, 0, 255).astype(np.uint8), "L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB") if img.mode != "RGB" else img


def save_thumbnail(img: Image.Image, dest: Path, size: int, quality: int = 85) -> None:
    """A JPEG thumbnail (longest side `size`), written whole or not at all (`WriteFailed`)."""
    thumb = img.copy()
    thumb.thumbnail((size, size), Image.Resampling.BICUBIC)
    storage.atomic_write(dest, lambda tmp: thumb.save(tmp, "JPEG", quality=quality))


def file_time(mtime_ns: int) -> str:
    """A file modification time as an ISO timestamp (the fallback capture time)."""
    return datetime.fromtimestamp(mtime_ns / 1e9).replace(microsecond=0).isoformat()


def _taken_at(exif: Image.Exif, data: bytes) -> tuple[str | None, str]:
    """The capture time the file itself states: EXIF, else its embedded XMP ("file": none)."""
    raw = None
    try:
        sub = exif.get_ifd(EXIF_IFD)
        raw = next((sub.get(t) for t in DATE_TAGS if sub.get(t)), None)
    except (KeyError, ValueError, TypeError):
        raw = None
    raw = raw or exif.get(IFD0_DATETIME)
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", errors="ignore")
    if isinstance(raw, str):
        try:
            when = datetime.strptime(raw.strip()[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            when = None  # "0000:00:00 00:00:00" and other placeholders
        if when is not None and capture_dates.plausible(when):
            return when.isoformat(), "exif"
    xmp = capture_dates.embedded_xmp(data)
    when = capture_dates.from_xmp(xmp) if xmp else None
    if when is not None:
        return when.isoformat(), "xmp"
    return None, "file"


def sidecar_xmp(path: str) -> bytes | None:
    """The XMP sidecar of a photo (photo.jpg.xmp or photo.xmp), if it has one."""
    for candidate in capture_dates.sidecar_paths(path):
        try:
            with open(candidate, "rb") as f:
                return f.read(capture_dates.XMP_SCAN_BYTES)
        except OSError:
            continue  # no sidecar under this name
    return None


def date_without_exif(path: str, root: str) -> tuple[str, str] | None:
    """(ISO date, source) from an XMP sidecar, the file name or the folders; None if none."""
    found = capture_dates.from_path(path, root, sidecar_xmp(path))
    return (found[0].isoformat(), found[1]) if found else None


def photo_date(
    path: str, root: str, mtime_ns: int, stated: str | None = None, source: str = "exif"
) -> tuple[str, str]:
    """When a photo was taken and how that is known (the one place it is decided).

    What the file itself states (`stated`: EXIF or embedded XMP, read when decoding), else an
    XMP sidecar, its name or its folders (under `root`), else its modification time, the one
    uncertain source (index/capture_dates.py says the order and why).
    """
    if stated is not None:
        return stated, source
    return date_without_exif(path, root) or (file_time(mtime_ns), capture_dates.UNCERTAIN)


def _gps(exif: Image.Exif) -> tuple[float | None, float | None]:
    try:
        gps = exif.get_ifd(GPS_IFD)
        if not gps or 2 not in gps or 4 not in gps:
            return None, None
        lat = _dms(gps[2]) * (-1 if str(gps.get(1, "N")).upper().startswith("S") else 1)
        lon = _dms(gps[4]) * (-1 if str(gps.get(3, "E")).upper().startswith("W") else 1)
    except (KeyError, ValueError, TypeError, ZeroDivisionError):
        return None, None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None, None
    return round(lat, 6), round(lon, 6)


def _dms(value) -> float:
    d, m, s = (float(x) for x in value)
    return d + m / 60 + s / 3600


def place_name(lat: float | None, lon: float | None) -> str | None:
    """Offline reverse geocoding to "Town, Big city, Region, Country", nearest first.

    The nearest town alone is often a suburb (the Eiffel Tower is nearest to Vanves), so
    the nearest big city is added when it is close: people say "Paris", not "Vanves".
    """
    if lat is None or lon is None:
        return None
    import reverse_geocode

    with _geocode_lock:  # its first call builds a city table; decode threads share it
        hit = reverse_geocode.get((lat, lon))
        big = reverse_geocode.get((lat, lon), min_population=BIG_CITY_POPULATION)
    if not hit:
        return None
    parts = [hit.get("city")]
    if big and _km(lat, lon, big["latitude"], big["longitude"]) <= BIG_CITY_KM:
        parts.append(big.get("city"))
    parts += [hit.get("state"), hit.get("country")]
    return ", ".join(dict.fromkeys(p for p in parts if p)) or None


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    from math import asin, cos, radians, sin, sqrt

    dlat, dlon = radians(lat2 - lat1), radians(lon2 - lon1)
    a = sin(dlat / 2) ** 2 + cos(radians(lat1)) * cos(radians(lat2)) * sin(dlon / 2) ** 2
    return 2 * 6371 * asin(sqrt(a))


def iter_batches(items: list, size: int) -> Iterator[list]:
    """Consecutive slices of at most `size` items."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
