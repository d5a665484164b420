"""Finding photos on disk and reading each one once: identity, EXIF, pixels, thumbnail."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from index.settings import Settings

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}
)
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATE_TAGS = (36867, 36868)  # DateTimeOriginal, DateTimeDigitized
IFD0_DATETIME = 306

BIG_CITY_POPULATION = 500_000  # a city this big names its surroundings too
BIG_CITY_KM = 25  # ... within this distance

_heif_registered = False
_geocode_lock = threading.Lock()


@dataclass(frozen=True)
class FoundFile:
    """A candidate photo found by the walk."""

    path: str  # OS path (may hold surrogate escapes for undecodable names)
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class WalkProblem:
    """Something the walk could not enter or read, and why."""

    path: str
    reason: str


@dataclass
class Decoded:
    """One photo read once: metadata plus an oriented RGB copy sized for the models."""

    hash: str
    width: int  # original, after EXIF orientation
    height: int
    taken_at: str | None
    taken_source: str  # "exif" or "file"
    lat: float | None
    lon: float | None
    place: str | None  # reverse geocoded from lat/lon, offline
    image: Image.Image  # RGB, oriented, longest side <= the decode size asked for
    scale: float  # original longest side / image longest side


class Unreadable(Exception):
    """This file cannot be used as a photo; the message is the reason to record."""


class Vanished(Unreadable):
    """The file was deleted between the walk and the read: nothing to record."""


def walk(root: Path, exclude: tuple[Path, ...] = ()) -> tuple[list[FoundFile], list[WalkProblem]]:
    """Every image file under root (recursively), skipping hidden folders, loops and `exclude`."""
    found: list[FoundFile] = []
    problems: list[WalkProblem] = []
    excluded = {_dir_key(p) for p in exclude if p.exists()}
    seen_dirs: set[tuple[int, int]] = set()
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            key = _dir_key(Path(folder))
        except OSError as err:
            problems.append(WalkProblem(folder, f"cannot read folder: {err.strerror or err}"))
            continue
        if key in seen_dirs or key in excluded:
            if key in seen_dirs:
                problems.append(WalkProblem(folder, "folder already visited (symlink loop)"))
            continue
        seen_dirs.add(key)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as err:
            problems.append(
                WalkProblem(
                    folder, f"cannot read folder: {err.strerror or err} (check permissions)"
                )
            )
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=True):
                    subdirs.append(entry.path)
                elif Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                    st = entry.stat(follow_symlinks=True)
                    if stat.S_ISREG(st.st_mode):
                        found.append(FoundFile(entry.path, st.st_size, st.st_mtime_ns))
            except OSError as err:
                problems.append(WalkProblem(entry.path, f"cannot read: {err.strerror or err}"))
        stack.extend(reversed(subdirs))
    return found, problems


def _dir_key(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


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
    data: bytes, settings: Settings, digest: str | None = None, size: int | None = None
) -> Decoded:
    """Decode once, at reduced scale where the format allows; everything else derives from it.

    `size` is the longest side the callers need (default: what face detection needs).
    """
    if not data:
        raise Unreadable("empty file (0 bytes)")
    _register_heif()
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
        target = size or settings.face_image_size
        if img.format == "JPEG" and max(img.size) > target:
            # Draft decoding at 1/2, 1/4 or 1/8 scale costs a fraction of a full decode.
            ratio = target / max(img.size)
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
    if max(img.size) > target:
        img.thumbnail((target, target), Image.Resampling.BICUBIC)
    scale = max(width, height) / max(img.size)
    taken_at, source = _taken_at(exif)
    lat, lon = _gps(exif)
    return Decoded(
        hash=digest or file_hash(data),
        width=width,
        height=height,
        taken_at=taken_at,
        taken_source=source,
        lat=lat,
        lon=lon,
        place=place_name(lat, lon),
        image=img,
        scale=scale,
    )


def open_rgb(path: str | Path) -> Image.Image:
    """A photo at full resolution, EXIF-rotated and RGB (for exact reference paths and faces)."""
    _register_heif()
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
    """A JPEG thumbnail (longest side `size`), written atomically."""
    thumb = img.copy()
    thumb.thumbnail((size, size), Image.Resampling.BICUBIC)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # One temp file per thread: two copies of one photo are decoded at once by the workers,
    # and a shared temp name lets one thread's os.replace pull the file from under the other.
    tmp = dest.with_name(f"{dest.name}.{threading.get_ident()}.tmp")
    thumb.save(tmp, "JPEG", quality=quality)
    os.replace(tmp, dest)


def thumbnail_path(data_dir: Path, digest: str) -> Path:
    """Where the thumbnail of content `digest` lives (keyed by content: survives moves)."""
    return data_dir / "thumbs" / digest[:2] / f"{digest}.jpg"


def file_time(mtime_ns: int) -> str:
    """A file modification time as an ISO timestamp (the fallback capture time)."""
    return datetime.fromtimestamp(mtime_ns / 1e9).replace(microsecond=0).isoformat()


def _taken_at(exif: Image.Exif) -> tuple[str | None, str]:
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
            return datetime.strptime(raw.strip()[:19], "%Y:%m:%d %H:%M:%S").isoformat(), "exif"
        except ValueError:
            pass
    return None, "file"


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


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except ImportError:
            pass  # HEIC files then get "format this program cannot read"
        _heif_registered = True


def iter_batches(items: list, size: int) -> Iterator[list]:
    """Consecutive slices of at most `size` items."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
