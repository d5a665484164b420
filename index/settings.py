"""Every tunable number in one typed, validated object; `PIR_<FIELD>` environment variables override.

A value that cannot be used (`PIR_BATCH_SIZE=abc`, `PIR_BATCH_SIZE=0`) is refused at once with
an `InvalidInput` naming the variable and what it accepts, instead of failing later.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import annotated_types
import platformdirs
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.errors import InvalidInput

DEFAULT_CLIP = "ViT-B-32/laion2b_s34b_b79k"
APP_NAME = "personal-image-retriever"
ENV_PREFIX = "PIR_"
# Words live in prompts/ (reply templates, parser words, CLIP prompts): located here, once.
PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"

# The kinds of value a setting takes; each names what it allows in a refusal.
Count = Annotated[int, Field(ge=1)]  # a whole number, at least 1
Whole = Annotated[int, Field(ge=0)]  # a whole number, 0 or more
Share = Annotated[float, Field(ge=0.0, le=1.0)]  # a fraction from 0 to 1
Positive = Annotated[float, Field(gt=0.0)]  # a number above 0
Weight = Annotated[float, Field(ge=0.0)]  # a number, 0 or more


def default_data_dir() -> Path:
    """The platform's user data dir, or PIR_DATA when set."""
    env = os.environ.get("PIR_DATA")
    return Path(env).expanduser() if env else Path(platformdirs.user_data_dir(APP_NAME))


class Settings(BaseSettings):
    """Named thresholds and sizes; see each comment for what it trades off.

    `Settings()` reads `PIR_<FIELD>` variables too; keyword arguments win over them.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    # --- indexing ---
    batch_size: Count = 32  # photos committed per catalog transaction (resume granularity)
    model_batch: Count = 16  # images per CLIP forward pass
    prefetch_batches: Count = 2  # decoded batches kept ready ahead of the model
    decode_workers: Count = 2  # threads decoding photos while the model runs
    # Freed memory is given back to the system after a batch once the resident set grew this
    # much since the last time (index/memory.py: a give-back costs tens of ms of CPU).
    memory_give_back_mb: Count = 128
    torch_threads: Whole = 0  # 0: one per physical core
    max_pixels: Count = 200_000_000  # refuse to decode anything bigger (decompression bombs)
    upload_max_mb: Count = 50  # a chat upload larger than this is refused before it is read
    upload_cache_max_hours: Positive = 24.0  # uploads and answer copies kept this long (serve)
    upload_max_pixels: Count = 100_000_000  # ... and one with more pixels before it is decoded
    # A camera RAW shows its embedded JPEG preview when it is at least this long (px; fast),
    # else LibRaw develops it at half size.
    raw_preview_min_size: Count = 1000
    thumb_size: Count = 512  # longest side of cached thumbnails, px
    clip_max_side: Count = 720  # px: the playable copy of a motion or Live Photo's clip
    jpeg_quality: Annotated[int, Field(ge=1, le=95)] = 85  # thumbnails and face crops (1-95)
    # Longest side of the copy face vectors and crops come from, px. 1000 lets a 12 MP JPEG
    # decode at 1/4 scale (4032 -> 1008), several times cheaper than 1/2 for 1280.
    face_image_size: Count = 1000
    # Longest side of the copy MTCNN searches, px: its pyramid costs with the square of this.
    # At 640 a face needs ~1/32 of the photo's longest side (125 px of 4000) to be found.
    face_detect_size: Count = 640
    # A small copy (<= face_detect_size) of a JPEG decodes at the cheapest draft scale (1/2,
    # 1/4, 1/8) giving at least this share of the size asked: a 4000 px camera photo at 1/8
    # (500 px) for 512 or 640, at about half the cost of 1/4. Faces decode their regions again.
    decode_draft_share: Share = 0.75

    # --- CLIP encoder backends (index/models/encoders.py) ---
    # "auto" is the faster of ONNX Runtime and OpenVINO as measured (README); "torch" exports nothing
    clip_backend: Literal["auto", "onnxruntime", "openvino", "torch"] = "auto"
    clip_int8: bool = True  # offer an int8 image encoder, used only if it passes the check below
    # What runs the int8 tower: "auto" is OpenVINO where installed (faster here), else ORT.
    clip_int8_engine: Literal["auto", "onnxruntime", "openvino"] = "auto"
    clip_int8_min_cosine: Share = 0.99  # every calibration photo's int8 vs fp32 cosine must reach
    clip_fp32_min_cosine: Share = 0.9999  # an exported fp32 encoder must match torch this well
    # Photos per OpenVINO run of an image tower, always this many (the last run filled up):
    # each new batch size costs OpenVINO ~5 ms a photo to prepare; 8 ran as fast per photo as
    # 16 or 32 (ViT-B-32 int8) and pads at most 7 copies.
    clip_run_batch: Count = 8
    clip_calibration_photos: Count = 64  # the user's photos int8 is checked on (the first indexed)
    clip_calibration_min_photos: Count = 16  # a run with fewer leaves int8 unchecked (fp32 runs)
    clip_idle_unload_minutes: Weight = 30.0  # drop CLIP weights after this long unused (0: never)
    # Face, OCR and spaCy models too (index/models/lifecycle.py); 0: never.
    model_idle_unload_minutes: Weight = 30.0

    # --- faces ---
    face_min_size: Count = 40  # px in the original photo; smaller ones only by the finer look
    face_detect_min_px: Count = 20  # smallest face MTCNN's pyramid looks for in its copy, px
    face_min_score: Share = 0.90  # MTCNN probability below which a box is dropped
    # A finer look in crowds: a photo whose first look found a face smaller than
    # face_finer_below (px in the original; 0: never) is searched again by MTCNN's finer
    # pyramid levels alone, for faces down to face_finer_min_size. Elsewhere nothing more runs.
    face_finer_below: Whole = 60
    face_finer_min_size: Count = 24
    # A second look with dlib's CNN face detector after MTCNN: it finds faces in profile that
    # MTCNN passes over, at ~10x MTCNN's time per photo (README, Faces), so it is opt-in.
    face_second_look: bool = False
    face_second_look_min_score: Weight = 0.5  # dlib CNN confidence below which a box is dropped
    face_max_distance: Positive = 0.55  # L2 distance for "same person" (dlib 128-d)
    face_core_neighbours: Whole = 2  # neighbours within distance for a core face
    face_pair_distance: Weight = 0.4  # one neighbour this close also makes a core face
    # A weak face joins a person only on a core face's evidence (index/clustering.py): one
    # scored below this by the detector, or turned further than face_max_turn (the nose's
    # offset from the eyes' middle along the eye line, in eye distances; 0.5: under one eye).
    face_sure_score: Share = 0.98
    face_max_turn: Weight = 0.4
    face_embedder: str = "dlib"  # "dlib" or "vggface2"
    face_jitters: Whole = 0  # dlib re-samples per face vector; >1 is slower, barely better
    face_vggface2_path: str = ""  # VGGFace2 checkpoint; "" = torch hub cache, fetched on first use
    face_crop_size: Count = 160  # side of the face crops shown for people, px
    face_crop_margin: Weight = 0.25  # room around a face in its crop, as a share of the box side
    face_same_box: Share = 0.5  # box overlap (IoU) at which a re-detected face is the same face

    # --- words in photos (OCR), a stage after CLIP and faces ---
    ocr: bool = True  # read words in photos; PIR_OCR=0 or --no-ocr turns the stage off
    ocr_gate_size: Count = 512  # px: text is looked for on a copy this small first...
    ocr_detect_size: Count = 1600  # ...and only where some was found, detected again at this size
    ocr_image_size: Count = 1600  # px: the copy each line of text is read from
    ocr_box_threshold: Share = 0.4  # a detected text box is kept where its mean score reaches this
    ocr_min_confidence: Share = 0.6  # lines read with less confidence are dropped
    ocr_japanese_min_kana: Count = 2  # kana read in a photo that make it Japanese (its kanji)
    # What runs the OCR models: OpenVINO (fp32: the same lines for ~0.6 of the CPU) or ONNX Runtime
    ocr_runtime: Literal["openvino", "onnxruntime"] = "openvino"
    # Photos read at once (a copy of the models each, the cores shared among them). 1: two
    # copies in OpenVINO held ~450 MB more, and their memory grew with the photos read
    ocr_readers: Count = 1
    # A detection on more megapixels than this waits for any other to end, then gives its
    # memory back (a 1600 px detection holds a few hundred MB in OpenVINO)
    ocr_large_detection_mp: Positive = 1.0
    # Input shapes whose prepared kernels each OCR network keeps in OpenVINO (its CPU runtime
    # cache, 5000 by its default). Photos of many sizes made it grow with every photo read
    # (~390 MB more over 400 photos); 64 keeps the sizes a camera repeats, with the memory bounded
    ocr_shape_cache: Whole = 64

    # --- serving ---
    login_free_failures: Count = 5  # failed logins from one client before each try must wait
    login_delay_s: Positive = 2.0  # the first wait; it doubles with every further failure
    login_max_delay_s: Positive = 300.0  # ...up to this

    # --- videos (index/videos.py) ---
    video_sample_s: Positive = 2.0  # a moment every this many seconds (keyframes nearest to)
    video_scene_change: Share = 0.12  # ...and one where the picture changes this much (0-1)
    video_scene_min_gap_s: Weight = 0.5  # ...but never two moments closer than this
    video_max_moments: Count = 120  # a long video samples more sparsely, never more than this
    # Faces are looked for in every moment but one nearly identical to the one before (less
    # change than this); within a shot a face found where it was, looking as it did (its
    # region changed less than video_face_keep_change), keeps its vector.
    video_face_still: Share = 0.02
    video_face_keep_change: Share = 0.08  # measured: 0.01-0.09 one face panned, 0.12+ another
    video_words_change: Share = 0.06  # words are read again in a moment that changed this much
    video_shot_moments: Count = 6  # moments of one shot analysed in a row (shots share cores)

    # --- duplicates (index/duplicates.py) ---
    dup_phash_max_bits: Whole = 10  # of 64 perceptual-hash bits that may differ in a near-copy
    dup_max_seconds: Weight = 120.0  # stated capture times further apart: look-alikes, not copies
    dup_same_second_bits: Whole = 18  # ... hash bits that may differ for the same stated second
    dup_clip_min_cosine: Share = 0.85  # CLIP vectors less similar than this veto a near-copy

    # --- watching a served library's folders ---
    watch_quiet_s: float = 2.0  # index once the folder has been quiet this long (bursts batch)
    watch_max_wait_s: float = 20.0  # ...but never wait longer than this under a steady stream
    watch_rescan_s: float = 300.0  # rescan everything this often (drives without events)
    watch_events: bool = True  # False: rely on the rescan alone (e.g. network drives)

    # --- search ---
    search_candidates: Count = 200  # nearest neighbours fetched before cutting the tail
    search_default_limit: Count = 24
    chat_page_size: Count = 12  # photos per chat answer; "more" shows the next page
    chat_max_message: Count = 2000  # characters read from one chat message; the rest is ignored
    # Messages kept on the page: the browser redraws all of them on every answer, so a longer
    # window makes every answer slower in a long conversation.
    chat_window: Count = 40
    search_rel_cut: Share = 0.70  # keep hits scoring at least this share of the best gap
    # Gaps and z are measured against the query's similarity to a sample of the library, so
    # the cut does not depend on a model's absolute score scale.
    search_min_z: Weight = 3.0  # best hit must stand this many std devs above a typical photo
    search_min_background: Whole = 50  # fewer photos than this: too few to say "no good matches"
    search_background_sample: Count = 1024  # library photos a query is compared with for z
    search_direct_max: Whole = 20_000  # exact stores score candidate sets this small one by one
    # approximate stores: a filter keeping at least this share of the library is applied to
    # the plain search's neighbours instead of steering the scan (see VectorStore.search)
    search_postfilter_share: Share = 0.05
    search_max_limit: Count = 500  # the most hits one search returns
    text_cache_size: Whole = 128  # recent query vectors kept
    # Ranking by faces alone (no text): confidence = weighted closeness, size and detection.
    face_rank_distance_weight: Weight = 0.6
    face_rank_size_weight: Weight = 0.25
    face_rank_score_weight: Weight = 0.15
    face_rank_full_size: Positive = 0.2  # face width / photo width that counts as fully clear
    face_rank_bucket: Weight = 0.1  # confidences this close count as equal; newer photo first
    only_stranger_size: Weight = 0.5  # "only Alice": an unknown face this large (vs hers) counts

    # --- vector store ---
    index_refresh_s: Weight = (
        10.0  # while the catalog changes, rebuild the index at most this often
    )
    ivf_threshold: Count = 50_000  # above this many vectors, use an approximate index
    ivf_encoding: str = "SQ8"  # FAISS code for the approximate index: SQ8 (512 B/vector), SQfp16
    ivf_lists_factor: Positive = 1.0  # inverted lists = factor * sqrt(vectors)
    ivf_nprobe: Count = 16  # lists scanned per query (recall vs speed)
    ivf_train_sample: Count = 65_536  # vectors the coarse quantizer is trained on
    ivf_train_iterations: Count = 10  # k-means rounds training the lists (build time vs quality)

    # --- query parsing ---
    query_max_chars: Count = 500  # longer queries are cut before spaCy sees them
    name_typo_min_len: Count = 4  # names this long tolerate one typo ("Alcie" -> Alice)
    name_typo2_min_len: Count = 8  # names this long tolerate two
    # An unknown word this similar to a known name (0-1, by edit distance) gets "did you
    # mean ...?" before any offer to name a group of faces.
    name_suggest_similarity: Share = 0.6

    def __init__(self, **kw: Any) -> None:
        try:
            super().__init__(**kw)
        except ValidationError as err:
            raise _refusal(err, given=kw) from None

    def override(self, **kw: Any) -> Settings:
        """A copy with some fields changed (checked like any other value)."""
        try:
            return type(self).model_validate({**self.model_dump(), **kw})
        except ValidationError as err:
            raise _refusal(err, given=kw) from None

    @classmethod
    def from_env(cls) -> Settings:
        """Defaults, overridden by PIR_<FIELD> environment variables."""
        return cls()


def allowed(name: str) -> str:
    """What setting `name` accepts, in words: "a whole number, at least 1"."""
    info = Settings.model_fields[name]
    if get_origin(info.annotation) is Literal:
        return "one of " + ", ".join(str(choice) for choice in get_args(info.annotation))
    kind = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}.get(
        info.annotation, str(info.annotation)
    )
    bounds = []
    for rule in info.metadata:
        if isinstance(rule, annotated_types.Ge):
            bounds.append(f"at least {rule.ge}")
        elif isinstance(rule, annotated_types.Gt):
            bounds.append(f"above {rule.gt}")
        elif isinstance(rule, annotated_types.Le):
            bounds.append(f"at most {rule.le}")
        elif isinstance(rule, annotated_types.Lt):
            bounds.append(f"below {rule.lt}")
    return ", ".join([kind, *bounds])


def _refusal(err: ValidationError, given: dict[str, Any]) -> InvalidInput:
    """One line naming the first bad setting (its variable when it came from one)."""
    problem = err.errors()[0]
    name = str(problem["loc"][0]) if problem["loc"] else ""
    if name not in Settings.model_fields:
        return InvalidInput(f"{name!r} is not a setting; the settings are in index/settings.py.")
    var = ENV_PREFIX + name.upper()
    if name not in given and os.environ.get(var) is not None:
        return InvalidInput(f"{var}={os.environ[var]!r} cannot be used: give {allowed(name)}.")
    return InvalidInput(f"Setting {name}={given.get(name)!r} cannot be used: give {allowed(name)}.")
