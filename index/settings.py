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
    chat_page_size: int = 12  # photos per chat answer; "more" shows the next page
    chat_max_message: int = 2000  # characters read from one chat message; the rest is ignored
    search_rel_cut: float = 0.70  # keep hits scoring at least this share of the best gap
    # Gaps and z are measured against the query's similarity to a sample of the library, so
    # the cut does not depend on a model's absolute score scale.
    search_min_z: float = 3.0  # best hit must stand this many std devs above a typical photo
    search_min_background: int = 50  # fewer photos than this: too few to say "no good matches"
    search_background_sample: int = 1024  # library photos a query is compared with for z
    search_direct_max: int = 20_000  # exact stores score candidate sets this small one by one
    search_max_limit: int = 500  # the most hits one search returns
    text_cache_size: int = 128  # recent query vectors kept
    # Ranking by faces alone (no text): confidence = weighted closeness, size and detection.
    face_rank_distance_weight: float = 0.6
    face_rank_size_weight: float = 0.25
    face_rank_score_weight: float = 0.15
    face_rank_full_size: float = 0.2  # face width / photo width that counts as fully clear
    face_rank_bucket: float = 0.1  # confidences this close count as equal; newer photo first
    only_stranger_size: float = 0.5  # "only Alice": an unknown face this large (vs hers) counts

    # --- vector store ---
    index_refresh_s: float = 10.0  # while the catalog changes, rebuild the index at most this often
    ivf_threshold: int = 50_000  # above this many vectors, use an approximate index
    ivf_encoding: str = "SQ8"  # FAISS code for the approximate index: SQ8 (512 B/vector), SQfp16
    ivf_lists_factor: float = 1.0  # inverted lists = factor * sqrt(vectors)
    ivf_nprobe: int = 16  # lists scanned per query (recall vs speed)
    ivf_train_sample: int = 65_536  # vectors the coarse quantizer is trained on
    ivf_train_iterations: int = 10  # k-means rounds training the lists (build time vs quality)

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
