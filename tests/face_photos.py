"""Real face photos for the face and people tests: the public eval set, decoded like the indexer.

The eval photos live outside the repository (see tests/eval_photos.py); tests that need
them skip with a clear reason when they are absent.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from eval_photos import eval_dir
from PIL import Image, ImageOps

from index.faces import DetectedFace, FaceAnalyzer
from index.scan import decode
from index.settings import Settings

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def eval_faces_dir() -> Path:
    """The public eval face folder, or skip the calling test when it is not there."""
    return eval_dir("faces")


def eval_photo(rel: str) -> Image.Image:
    """One eval photo, EXIF-rotated RGB, at full size."""
    with Image.open(eval_faces_dir() / rel) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


def person_photos() -> dict[str, list[str]]:
    """Relative paths of the photos in each person folder (folders starting with _ excluded)."""
    root = eval_faces_dir()
    return {
        d.name: sorted(
            str(p.relative_to(root)) for p in d.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES
        )
        for d in sorted(root.iterdir())
        if d.is_dir() and not d.name.startswith("_")
    }


@cache
def analyzer() -> FaceAnalyzer:
    """One dlib analyzer per test run (the models load once)."""
    return FaceAnalyzer(Settings())


def analyze(image: Image.Image) -> list[DetectedFace]:
    """Faces of a full-size photo, analysed on a downscaled copy as the indexer does."""
    return analyzer().analyze_photo(image)


@cache
def analyze_eval(rel: str) -> tuple[DetectedFace, ...]:
    """Faces of one eval photo, decoded as the indexer decodes it; cached for the test run."""
    path = eval_faces_dir() / rel
    decoded = decode(path.read_bytes(), analyzer().settings)
    return tuple(analyzer().analyze(decoded.image, decoded.scale))


def side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    """One photo made of two, scaled to the same height, with a grey gap between them."""
    h = min(left.height, right.height)
    left = left.resize((round(left.width * h / left.height), h))
    right = right.resize((round(right.width * h / right.height), h))
    gap = h // 4
    out = Image.new("RGB", (left.width + gap + right.width, h), (128, 128, 128))
    out.paste(left, (0, 0))
    out.paste(right, (left.width + gap, 0))
    return out
