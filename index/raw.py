"""Camera RAW files through LibRaw (rawpy): the embedded JPEG preview when it is big enough
(fast: no demosaic), else a half-size demosaic; the EXIF read from the RAW's own TIFF
structure (capture time, GPS), and the orientation LibRaw reports.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

# LibRaw's `flip` as the EXIF orientation it stands for (0: as stored).
FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}
TURNS = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_270,
    8: Image.Transpose.ROTATE_90,
}


class RawUnreadable(Exception):
    """LibRaw cannot read this file; the message says why, for the skipped list."""


@dataclass
class RawStill:
    """One RAW read: an oriented RGB picture, the RAW's EXIF, and its full oriented size."""

    image: Image.Image
    exif: Image.Exif
    width: int
    height: int
    source: str  # "preview" (the embedded JPEG) or "demosaic"


def read_raw(data: bytes, min_preview: int, size: int | None = None) -> RawStill:
    """The picture of a RAW file: its embedded JPEG preview when the preview's longest side
    is at least `min_preview` px, else LibRaw's half-size demosaic. With `size`, the preview
    is decoded at the smallest JPEG scale still at least that long (as photos are)."""
    import rawpy

    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            sizes = raw.sizes
            orientation = FLIP_TO_ORIENTATION.get(sizes.flip, 1)
            width, height = sizes.width, sizes.height
            if orientation in (6, 8):
                width, height = height, width
            preview = _preview(raw, min_preview, size)
            if preview is not None:
                image, source = _oriented(preview, orientation), "preview"
            else:
                # LibRaw applies the orientation itself when it develops the picture.
                rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
                image, source = Image.fromarray(rgb), "demosaic"
    except rawpy.LibRawError as err:
        raise RawUnreadable(f"a camera RAW file LibRaw cannot read ({_said(err)})") from err
    except (OSError, ValueError) as err:
        raise RawUnreadable(f"corrupt or truncated RAW file ({err})") from err
    exif = raw_exif(data)
    if not exif and preview is not None:
        exif = preview.getexif()  # RAF, CR3: not TIFF files, but their preview carries EXIF
    return RawStill(image, exif, width, height, source)


def _preview(raw, min_preview: int, size: int | None) -> Image.Image | None:
    """The embedded JPEG preview when there is one at least `min_preview` px long."""
    import rawpy

    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    if thumb.format != rawpy.ThumbFormat.JPEG:
        return None  # a bitmap thumbnail: small, and a demosaic is better
    try:
        img = Image.open(io.BytesIO(thumb.data))
        if max(img.size) < min_preview:
            return None
        if size is not None and max(img.size) > size:
            ratio = size / max(img.size)  # draft: a 1/2, 1/4 or 1/8 scale decode
            img.draft("RGB", (max(1, int(img.width * ratio)), max(1, int(img.height * ratio))))
        img.load()
    except (OSError, SyntaxError, ValueError):
        return None  # a damaged preview: develop the RAW itself instead
    return img


def _oriented(img: Image.Image, orientation: int) -> Image.Image:
    """The preview turned as the RAW says (previews are stored as the sensor saw them)."""
    turn = TURNS.get(orientation)
    return img.transpose(turn) if turn is not None else img


def raw_exif(data: bytes) -> Image.Exif:
    """The EXIF of a TIFF-structured RAW (DNG, CR2, NEF, ARW, PEF, RW2, ORF...); empty when
    the file is not TIFF-structured."""
    exif = Image.Exif()
    head = data[:4]
    if head[:2] == b"II" and head != b"II*\x00":
        data = b"II*\x00" + data[4:]  # Panasonic (IIU) and Olympus (IIRO) vary the magic
    elif head[:2] == b"MM" and head != b"MM\x00*":
        data = b"MM\x00*" + data[4:]
    try:
        exif.load(data)
    except (OSError, SyntaxError, ValueError, KeyError, IndexError, TypeError):
        return Image.Exif()  # not a TIFF structure (CR3, RAF): the caller tries the preview
    return exif


def _said(err: Exception) -> str:
    text = err.args[0] if err.args else err
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)
