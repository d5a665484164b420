"""The moment stage: a CLIP vector and a thumbnail for each sampled moment of a video, so a
search finds the moment, not only the video's poster (index/videos.py samples them).

Photos pass through untouched. The moments' thumbnails are made in the decode workers, with
a small copy of each moment (CLIP_SIDE px: a few times smaller than CLIP's float input, which
a batch of long videos waiting for the model would otherwise hold); their CLIP inputs and
vectors are made in the indexing thread, `model_batch` at a time.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from index import layout, scan
from index.catalog import Catalog
from index.models import ClipModel
from index.models.int8 import accepted_backends
from index.settings import Settings
from index.stage import Run

CLIP_SIDE = 320  # px: the shorter side of the copy a moment's CLIP input is made from


def _small(picture: Image.Image) -> Image.Image:
    """A copy whose shorter side is CLIP_SIDE (CLIP resizes it to 224 and crops the middle)."""
    scale = CLIP_SIDE / min(picture.size)
    if scale >= 1:
        return picture
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.resize(size, Image.Resampling.BICUBIC)


class MomentStage:
    """Moment vectors of one CLIP model (see index/stage.py for the contract)."""

    name = "moments"
    doing = "indexing video moments"
    uses_worker_cores = False

    def __init__(self, clip: ClipModel, settings: Settings):
        self.clip = clip
        self.settings = settings
        self.decode_size = settings.thumb_size
        self._data_dir = None

    def begin(self, catalog: Catalog, run: Run) -> set[int] | None:
        """None when CLIP cannot run (the CLIP stage says why), else the videos under the
        folder without moments of this model."""
        if not self.clip.is_available():
            return None
        self._data_dir = catalog.data_dir
        backends = accepted_backends(catalog, self.clip)
        return set(catalog.videos_missing_moments(self.clip.spec, run.root, backends))

    def analyze(self, decoded: scan.Decoded) -> Any:
        """A video's moment times and small copies (for CLIP), its moment thumbnails
        written; None for a photo."""
        if not decoded.frames:
            return None
        for k, m in enumerate(decoded.frames):
            thumb = layout.moment_thumb_path(self._data_dir, decoded.hash, k)
            if not thumb.exists():
                scan.save_thumbnail(
                    m.image, thumb, self.settings.thumb_size, self.settings.jpeg_quality
                )
        return [m.time_s for m in decoded.frames], [_small(m.image) for m in decoded.frames]

    def batch(self, analysed: list[Any]) -> list[Any]:
        """(times, vectors, backend) per video, None per photo."""
        import numpy as np
        import torch

        out: list[Any] = []
        step = max(1, self.settings.model_batch)
        for item in analysed:
            if item is None:
                out.append(None)
                continue
            times, pictures = item
            vecs = [
                self.clip.encode_preprocessed(
                    torch.stack([self.clip.preprocess(p) for p in pictures[k : k + step]])
                )
                for k in range(0, len(pictures), step)
            ]
            out.append((times, np.concatenate(vecs), self.clip.image_backend))
        return out

    def write(self, catalog: Catalog, photo_id: int, result: Any) -> bool:
        """Store a video's moments; whether there were any."""
        if result is None:
            return False
        times, vecs, backend = result
        catalog.put_moments(photo_id, self.clip.spec, backend, times, vecs)
        return True

    def after_batch(self, catalog: Catalog, photo_ids: list[int]) -> None:
        """Nothing to finish: the indexer marks the image index stale after every batch."""

    def end(self, catalog: Catalog, run: Run) -> None:
        """Nothing waits for the end."""
