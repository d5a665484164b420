"""Photo files the tests make themselves: ordinary, awkward and broken ones."""

from __future__ import annotations

import struct
import zlib
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image


def noise_photo(
    path: Path,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    taken: datetime | None = None,
    gps: tuple[float, float] | None = None,
    orientation: int | None = None,
    fmt: str | None = None,
) -> Path:
    """A random-coloured photo with optional EXIF capture time, GPS and orientation."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize(size, Image.Resampling.BILINEAR)
    exif = photo_exif(taken, gps)
    if orientation is not None:
        exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".bmp", ".gif"):
        img.save(path, fmt)  # formats without EXIF
    else:
        img.save(path, fmt, exif=exif)
    return path


def photo_exif(taken: datetime | None, gps: tuple[float, float] | None) -> Image.Exif:
    """EXIF with a capture time and a GPS position, each when given."""
    exif = Image.Exif()
    if taken is not None:
        exif.get_ifd(0x8769)[36867] = taken.strftime("%Y:%m:%d %H:%M:%S")
    if gps is not None:
        lat, lon = gps
        exif.get_ifd(0x8825).update(
            {
                1: "N" if lat >= 0 else "S",
                2: _dms(abs(lat)),
                3: "E" if lon >= 0 else "W",
                4: _dms(abs(lon)),
            }
        )
    return exif


def _dms(value: float) -> tuple[float, float, float]:
    d = int(value)
    m = int((value - d) * 60)
    s = round(((value - d) * 60 - m) * 60, 4)
    return (float(d), float(m), s)


def bomb_png(path: Path, width: int = 50_000, height: int = 50_000) -> Path:
    """A tiny PNG whose header claims an enormous image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def awkward_folder(root: Path) -> dict[str, Path]:
    """A folder of every kind of bad or unusual input the issue lists; name -> path."""
    root.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    files["good"] = noise_photo(root / "good.jpg", seed=1)
    files["zero"] = root / "zero.jpg"
    files["zero"].write_bytes(b"")
    full = noise_photo(root / "tmp_full.jpg", size=(640, 480), seed=2).read_bytes()
    (root / "tmp_full.jpg").unlink()
    files["truncated"] = root / "truncated.jpg"
    files["truncated"].write_bytes(full[: len(full) // 3])
    files["text"] = root / "notes.jpg"
    files["text"].write_text("this is not a picture\n")
    files["bomb"] = bomb_png(root / "bomb.png")
    arr16 = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    files["png16"] = root / "deep.png"
    Image.fromarray(arr16).save(files["png16"])
    files["cmyk"] = root / "cmyk.jpg"
    Image.new("CMYK", (80, 60), (0, 128, 255, 0)).save(files["cmyk"])
    frames = [Image.new("RGB", (64, 64), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    files["gif"] = root / "anim.gif"
    frames[0].save(files["gif"], save_all=True, append_images=frames[1:], duration=100, loop=0)
    files["unicode"] = noise_photo(root / "Ünïcödé 写真 📷.png", seed=3)
    files["webp"] = noise_photo(root / "pic.webp", seed=4)
    files["bmp"] = noise_photo(root / "pic.bmp", seed=5)
    files["tiff"] = noise_photo(root / "pic.tiff", seed=6)
    (root / ".hidden").mkdir()
    noise_photo(root / ".hidden" / "secret.jpg", seed=7)
    sub = root / "nested" / "deeper"
    files["nested"] = noise_photo(sub / "n.png", seed=8)
    (sub / "loop").symlink_to(root, target_is_directory=True)
    return files
