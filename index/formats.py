"""Which files this program reads, by kind, and the Pillow plugins those formats need.

A file is one of: a still Pillow reads (with the HEIF/AVIF and JPEG XL plugins), a camera
RAW (read through LibRaw), a video, a sidecar read beside its photo (XMP, Apple's AAE), or
something else, which the walk lists as skipped with its reason.
"""

from __future__ import annotations

import contextlib
import os
import threading

PILLOW_SUFFIXES = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff",
        ".heic", ".heif", ".avif", ".jxl",
    }
)  # fmt: skip
# Camera RAW formats LibRaw reads (Canon, Nikon, Sony, Adobe DNG, Fujifilm, Panasonic,
# Olympus, Pentax, Samsung, Hasselblad, Phase One, Leica, Sigma, Minolta, Kodak).
RAW_SUFFIXES = frozenset(
    {
        ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf",
        ".rw2", ".orf", ".pef", ".srw", ".3fr", ".iiq", ".rwl", ".mrw", ".x3f", ".kdc",
        ".erf", ".mos",
    }
)  # fmt: skip
STILL_SUFFIXES = PILLOW_SUFFIXES | RAW_SUFFIXES
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".3gp", ".mkv", ".avi", ".webm", ".mts", ".m2ts", ".wmv", ".mpg"}
)
MEDIA_SUFFIXES = STILL_SUFFIXES | VIDEO_SUFFIXES
# Read beside their photo (an XMP's dates), never catalogued on their own.
SIDECAR_SUFFIXES = frozenset({".xmp", ".aae", ".thm"})
# A RAW beside one of these with the same name is one photo: this one shown, the RAW listed.
PAIRED_DEVELOPED = frozenset({".jpg", ".jpeg", ".jpe", ".heic", ".heif"})
# ... and a MOV beside one is an Apple Live Photo's clip.
LIVE_CLIP_SUFFIXES = frozenset({".mov"})

_plugins_lock = threading.Lock()
_plugins_registered = False


def suffix(name: str) -> str:
    """The lower-case extension of a file name ("" when it has none)."""
    return os.path.splitext(name)[1].lower()


def is_still(name: str) -> bool:
    """Whether `name` is a photo format this program reads (RAW included)."""
    return suffix(name) in STILL_SUFFIXES


def is_media(name: str) -> bool:
    """Whether `name` is a photo or a video this program catalogues."""
    return suffix(name) in MEDIA_SUFFIXES


def is_raw(name: str) -> bool:
    """Whether `name` is a camera RAW file (read through LibRaw, not Pillow)."""
    return suffix(name) in RAW_SUFFIXES


def is_video(name: str) -> bool:
    """Whether `name` is a video file."""
    return suffix(name) in VIDEO_SUFFIXES


def is_live_clip(name: str) -> bool:
    """Whether `name` may be a Live Photo's clip (a MOV beside a HEIC or JPEG of its name)."""
    return suffix(name) in LIVE_CLIP_SUFFIXES


def is_sidecar(name: str) -> bool:
    """Whether `name` is a sidecar read beside its photo (never a photo of its own)."""
    return suffix(name) in SIDECAR_SUFFIXES


def unsupported_reason(name: str) -> str:
    """Why a file the walk found is not catalogued, in words for the skipped list."""
    ext = suffix(name)
    if not ext:
        return "not a photo: a file without an extension this program could read"
    return f"not a photo or video format this program reads ({ext})"


def register_plugins() -> None:
    """Teach Pillow HEIC/HEIF (pillow-heif) and JPEG XL (pillow-jxl-plugin); AVIF is built in.

    A missing plugin is not an error here: its files are then skipped as unreadable.
    """
    global _plugins_registered
    with _plugins_lock:
        if _plugins_registered:
            return
        # Without a plugin its files get "an image format this program cannot read".
        with contextlib.suppress(ImportError):
            import pillow_heif

            pillow_heif.register_heif_opener()
        with contextlib.suppress(ImportError):
            import pillow_jxl  # noqa: F401  (registers the JPEG XL opener on import)
        _plugins_registered = True
