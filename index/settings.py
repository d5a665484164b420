"""Every tunable number in one typed object; `PIR_<FIELD>` environment variables override."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

import platformdirs

DEFAULT_CLIP = "ViT-B-32/laion2b_s34b_b79k"
APP_NAME = "personal-image-retriever"


def default_data_dir() -> Path:
    """The platform's user data dir, or PIR_DATA when set."""
    env = os.environ.get("PIR_DATA")
    return Path(env).expanduser() if env else Path(platformdirs.user_data_dir(APP_NAME))


@dataclass(frozen=True)
class Settings:
    """Named thresholds and sizes; see each comment for what it trades off."""

    # --- indexing ---
    batch_size: int = 32  # photos committed per catalog transaction (resume granularity)
    model_batch: int = 16  # images per CLIP forward pass
    prefetch_batches: int = 2  # decoded batches kept ready ahead of the model
    decode_workers: int = 2  # threads decoding photos while the model runs
    torch_threads: int = 0  # 0: one per physical core
    max_pixels: int = 200_000_000  # refuse to decode anything bigger (decompression bombs)
    thumb_size: int = 512  # longest side of cached thumbnails, px
    face_image_size: int = 1280  # longest side of the copy MTCNN sees, px

    # --- faces ---
    face_min_size: int = 40  # px in the original photo; smaller faces are ignored
    face_min_score: float = 0.90  # MTCNN probability below which a box is dropped
    face_max_distance: float = 0.55  # L2 distance for "same person" (dlib 128-d)
    face_core_neighbours: int = 2  # neighbours within distance for a core face
    face_embedder: str = "dlib"  # "dlib" or "vggface2"
    face_jitters: int = 0  # dlib re-samples per face vector; >1 is slower, barely better
    face_vggface2_path: str = ""  # VGGFace2 checkpoint; "" = torch hub cache, fetched on first use

    # --- search ---
    search_candidates: int = 200  # nearest neighbours fetched before cutting the tail
    search_default_limit: int = 24
    search_rel_cut: float = 0.80  # keep hits scoring at least this share of the best gap
    ivf_threshold: int = 50_000  # above this many vectors, use an approximate index
    text_cache_size: int = 128  # recent query vectors kept

    # --- query parsing ---
    query_max_chars: int = 500  # longer queries are cut before spaCy sees them
    name_typo_min_len: int = 4  # names this long tolerate one typo ("Alcie" -> Alice)
    name_typo2_min_len: int = 8  # names this long tolerate two

    def override(self, **kw) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **kw)

    @classmethod
    def from_env(cls) -> Settings:
        """Defaults, overridden by PIR_<FIELD> environment variables."""
        kw = {}
        for f in fields(cls):
            raw = os.environ.get(f"PIR_{f.name.upper()}")
            if raw is not None:
                kind = type(getattr(cls, f.name))
                kw[f.name] = kind(raw)
        return cls(**kw)
