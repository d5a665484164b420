"""Real camera RAW files the tests make themselves: a DNG (a TIFF/EP file) holding a Bayer
mosaic, optionally a JPEG preview, and the EXIF a camera writes (capture time, GPS,
orientation). LibRaw (rawpy) reads them like a camera's own."""

from __future__ import annotations

import io
import struct
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

# TIFF field types
BYTE, ASCII, SHORT, LONG, RATIONAL, SRATIONAL = 1, 2, 3, 4, 5, 10
_SIZES = {BYTE: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, SRATIONAL: 8}
_PACK = {BYTE: "B", SHORT: "H", LONG: "I"}
WHITE = 4095  # a 12-bit sensor


def write_dng(
    path: Path,
    picture: Image.Image,
    preview: Image.Image | None = None,
    taken: datetime | None = None,
    gps: tuple[float, float] | None = None,
    orientation: int = 1,
) -> Path:
    """A DNG whose sensor saw `picture` (RGGB mosaic, 12 bits); `preview` is embedded as a
    JPEG in IFD0 (the raw then sits in a SubIFD), as cameras and converters do."""
    rgb = np.asarray(picture.convert("RGB"), dtype=np.float64) / 255.0
    h, w = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2
    linear = rgb[:h, :w] ** 2.2  # the sensor is linear; the picture was gamma-encoded
    mosaic = np.empty((h, w), dtype=np.float64)
    mosaic[0::2, 0::2] = linear[0::2, 0::2, 0]  # R
    mosaic[0::2, 1::2] = linear[0::2, 1::2, 1]  # G
    mosaic[1::2, 0::2] = linear[1::2, 0::2, 1]  # G
    mosaic[1::2, 1::2] = linear[1::2, 1::2, 2]  # B
    raw = (mosaic * WHITE).round().astype("<u2").tobytes()
    raw_ifd = [
        (254, LONG, [0]),  # the full-resolution image
        (256, LONG, [w]),
        (257, LONG, [h]),
        (258, SHORT, [16]),
        (259, SHORT, [1]),
        (262, SHORT, [32803]),  # CFA
        (273, LONG, "DATA"),
        (277, SHORT, [1]),
        (278, LONG, [h]),
        (279, LONG, [len(raw)]),
        (284, SHORT, [1]),
        (33421, SHORT, [2, 2]),  # CFARepeatPatternDim
        (33422, BYTE, [0, 1, 1, 2]),  # CFAPattern: RGGB
        (50714, LONG, [0]),  # BlackLevel
        (50717, LONG, [WHITE]),  # WhiteLevel
    ]
    camera = [
        (271, ASCII, "Test"),
        (272, ASCII, "Test DNG"),
        (274, SHORT, [orientation]),
        (50706, BYTE, [1, 4, 0, 0]),  # DNGVersion
        (50708, ASCII, "Test DNG"),  # UniqueCameraModel
        (
            50721,
            SRATIONAL,
            [(1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 1)],
        ),
        (50728, RATIONAL, [(1, 1), (1, 1), (1, 1)]),  # AsShotNeutral
        (50778, SHORT, [21]),  # CalibrationIlluminant1: D65
    ]
    exif = []
    if taken is not None:
        exif.append((36867, ASCII, taken.strftime("%Y:%m:%d %H:%M:%S")))
    gps_ifd = []
    if gps is not None:
        lat, lon = gps
        gps_ifd = [
            (1, ASCII, "N" if lat >= 0 else "S"),
            (2, RATIONAL, _dms(abs(lat))),
            (3, ASCII, "E" if lon >= 0 else "W"),
            (4, RATIONAL, _dms(abs(lon))),
        ]
    if preview is None:
        ifd0 = raw_ifd + camera
        blobs = {"DATA": raw}
    else:
        buf = io.BytesIO()
        preview.convert("RGB").save(buf, "JPEG", quality=90)
        jpeg = buf.getvalue()
        pw, ph = preview.size
        ifd0 = camera + [
            (254, LONG, [1]),  # a reduced-resolution copy of the picture
            (256, LONG, [pw]),
            (257, LONG, [ph]),
            (258, SHORT, [8, 8, 8]),
            (259, SHORT, [7]),  # JPEG
            (262, SHORT, [6]),  # YCbCr
            (273, LONG, "PREVIEW"),
            (277, SHORT, [3]),
            (278, LONG, [ph]),
            (279, LONG, [len(jpeg)]),
            (330, LONG, "SUBIFD"),
        ]
        blobs = {"DATA": raw, "PREVIEW": jpeg}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_tiff(ifd0, raw_ifd if preview is not None else None, exif, gps_ifd, blobs))
    return path


def _dms(value: float) -> list[tuple[int, int]]:
    d = int(value)
    m = int((value - d) * 60)
    s = ((value - d) * 60 - m) * 60
    return [(d, 1), (m, 1), (round(s * 1000), 1000)]


def _tiff(ifd0, sub, exif, gps, blobs) -> bytes:
    """A little-endian TIFF: IFD0, an optional SubIFD, EXIF and GPS IFDs, then the data."""
    ifd0 = list(ifd0)
    if exif:
        ifd0.append((34665, LONG, "EXIF"))
    if gps:
        ifd0.append((34853, LONG, "GPS"))
    order = [("IFD0", ifd0)] + [
        (n, e) for n, e in (("SUBIFD", sub), ("EXIF", exif), ("GPS", gps)) if e
    ]
    # First pass: where each IFD and each blob starts.
    offsets: dict[str, int] = {}
    pos = 8
    for name, entries in order:
        offsets[name] = pos
        pos += 2 + 12 * len(entries) + 4
        pos += sum(_extra(t, v) for _, t, v in entries)
    for name, blob in blobs.items():
        pos += pos % 2
        offsets[name] = pos
        pos += len(blob)
    out = bytearray(b"II*\x00" + struct.pack("<I", offsets["IFD0"]))
    for name, entries in order:
        assert len(out) == offsets[name]
        entries = sorted(entries, key=lambda e: e[0])
        table = bytearray(struct.pack("<H", len(entries)))
        extra = bytearray()
        extra_at = offsets[name] + 2 + 12 * len(entries) + 4
        for tag, typ, value in entries:
            if isinstance(value, str) and value in offsets:
                value = [offsets[value]]
            payload, count = _encode(typ, value)
            if len(payload) <= 4:
                table += struct.pack("<HHI", tag, typ, count) + payload.ljust(4, b"\x00")
            else:
                table += struct.pack("<HHII", tag, typ, count, extra_at + len(extra))
                extra += payload + (b"\x00" if len(payload) % 2 else b"")
        table += struct.pack("<I", 0)
        out += table + extra
    for name, blob in blobs.items():
        out += b"\x00" * (offsets[name] - len(out))
        out += blob
    return bytes(out)


def _encode(typ: int, value) -> tuple[bytes, int]:
    if typ == ASCII:
        data = value.encode("ascii") + b"\x00"
        return data, len(data)
    if typ in (RATIONAL, SRATIONAL):
        fmt = "<II" if typ == RATIONAL else "<ii"
        return b"".join(struct.pack(fmt, n, d) for n, d in value), len(value)
    return b"".join(struct.pack("<" + _PACK[typ], v) for v in value), len(value)


def _extra(typ: int, value) -> int:
    if isinstance(value, str) and typ != ASCII:
        return 0  # an offset filled in later: one LONG, inline
    size = len(_encode(typ, value)[0])
    return 0 if size <= 4 else size + size % 2
