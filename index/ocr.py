"""Words in photos: PP-OCR detection + recognition on OpenVINO, behind a gate.

Reading every photo at OCR's defaults costs 0.5 s for a photo with no text and 2-5 s for a
sign board: many times the rest of indexing. Most photos hold no text, so the reader first
looks for text on a small copy (`ocr_gate_size`, a few tens of milliseconds); only where it
finds some does it detect again at `ocr_detect_size` (by default the size of the copy each
line is then read from, `ocr_image_size`: small print survives no resampling between the two)
keeping boxes whose mean score reaches `ocr_box_threshold`; in a photo that reads as Japanese,
lines are decoded with Japanese kanji only (index/ocr_scripts.py). The angle classifier is
skipped: text upside down is rare in photos and the classifier costs a pass per line.

Models: the gate is PP-OCRv4's small detector (rapidocr-onnxruntime's wheel); the second
detection and the recognition are PP-OCRv6 small (shipped inside the `rapidocr` 3.x wheel,
run by rapidocr-onnxruntime's pipeline). v6 reads more scripts and more words than v4
(`bench/ocr_quality.py`, README); nothing is downloaded at run time. The networks run in
OpenVINO in fp32 (`ocr_runtime`): the same lines as ONNX Runtime, for about 0.6 of its
CPU time (`bench/ocr_cost.py --against ocr_runtime=onnxruntime`). Up to `ocr_readers`
photos (1 by default) are read side by side, each with a copy of the models on its share
of the cores.

The words stage (index/words_stage.py) runs this reader after CLIP and faces, over photos
whose words were not read yet by it (`MODEL_ID`).
"""

from __future__ import annotations

import importlib.util
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import psutil
from PIL import Image

from index.errors import ModelUnavailable
from index.folding import fold
from index.models.lifecycle import Lazy, file_bytes
from index.ocr_scripts import ScriptDecoder, in_the_photos_script
from index.settings import Settings

# Recorded with each photo's words; a new reader or gate re-reads photos read by the old one.
MODEL_ID = "ppocrv6-small-1600/ppocrv4-gate/japanese-kanji"
# The PP-OCRv6 small models inside the rapidocr 3.x wheel.
V6_DETECTOR = "PP-OCRv6_det_small.onnx"
V6_RECOGNIZER = "PP-OCRv6_rec_small.onnx"


class TextLine(TypedDict):
    """One line of text read in a photo; `box` in original photo pixels (x1, y1, x2, y2)."""

    text: str
    confidence: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class OcrModels:
    """The ONNX files of one detection + recognition pair; `keys`: the recognizer's alphabet,
    where the model does not carry it in its metadata. None: rapidocr-onnxruntime's own."""

    detector: Path | None = None
    recognizer: Path | None = None
    keys: Path | None = None


class TextReader:
    """Reads the lines of text in an image; the ONNX models load on first use."""

    model_id = MODEL_ID

    def __init__(self, settings: Settings, files: OcrModels | None = None):
        """`files`: other detection/recognition ONNX files (the benchmark compares candidates);
        by default PP-OCRv6 small from the rapidocr wheel."""
        self.settings = settings
        self.files = files
        self._large = threading.Lock()  # one large detection at a time (`Network`)
        self.models: Lazy[ModelCopies] = Lazy(
            "OCR (PP-OCRv6 + v4 gate)",
            lambda: ModelCopies(self._open, settings.ocr_readers),
            settings.model_idle_unload_minutes,
            lambda copies: copies.made * _onnx_bytes(),
        )

    def _open(self) -> tuple[Any, Any]:
        """One copy of the models: (the pipeline with the second detector and the
        recognizer, the gate's detector), each network on its share of the cores."""
        from rapidocr_onnxruntime import RapidOCR
        from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
        from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH, read_yaml, update_model_path

        cores = self.settings.torch_threads or psutil.cpu_count(logical=False) or 1
        threads = max(1, cores // self.settings.ocr_readers)
        files = self.files or _v6_models()
        paths = {
            "det_model_path": files.detector,
            "rec_model_path": files.recognizer,
            "rec_keys_path": files.keys,
        }
        engine = RapidOCR(
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
            print_verbose=False,
            **{k: str(v) for k, v in paths.items() if v is not None},
        )
        defaults = update_model_path(read_yaml(DEFAULT_CFG_PATH))  # PP-OCRv4 small
        config = defaults["Det"]
        config.update(intra_op_num_threads=threads, inter_op_num_threads=1)
        gate = TextDetector(config)

        # The networks themselves run in `ocr_runtime` (rapidocr keeps the steps around them).
        def run(model: Path | str) -> Network:
            s = self.settings
            big = int(s.ocr_large_detection_mp * 1e6)
            return Network(s.ocr_runtime, str(model), threads, big, self._large, s.ocr_shape_cache)

        gate.infer = run(config["model_path"])
        engine.text_det.infer = run(files.detector or defaults["Det"]["model_path"])
        engine.text_rec.session = run(files.recognizer or defaults["Rec"]["model_path"])
        # Each line also decoded with Japanese characters only (index/ocr_scripts.py).
        engine.text_rec.postprocess_op = ScriptDecoder(engine.text_rec.postprocess_op)
        # Sizes below are the longest side of what the detector sees; never upscale.
        engine.text_det.limit_type = gate.limit_type = "max"
        engine.text_det.postprocess_op.box_thresh = self.settings.ocr_box_threshold
        return engine, gate

    def read(self, image: Image.Image, scale: float = 1.0) -> list[TextLine]:
        """The lines of text in `image`, top to bottom; boxes multiplied by `scale` (so a
        reduced copy reports boxes in the original photo's pixels). Thread-safe: each call
        borrows a copy of the models of its own (`ocr_readers` copies at most)."""
        with self.models.get().lend() as (engine, gate):
            return self._read(engine, gate, image, scale)

    def _read(self, engine: Any, gate: Any, image: Image.Image, scale: float) -> list[TextLine]:
        s = self.settings
        if not len(self._detect(gate, _shrunk(image, s.ocr_gate_size))):
            return []
        found = _shrunk(image, s.ocr_detect_size)
        boxes = self._detect(engine.text_det, found)
        if not len(boxes):
            return []
        full = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])  # RapidOCR works in BGR
        ratio = image.width / found.width
        quads = [np.asarray(b, dtype=np.float32) * ratio for b in engine.sorted_boxes(boxes)]
        crops = engine.get_crop_img_list(full, quads)
        readings, _ = engine.text_rec(crops)
        texts = in_the_photos_script(readings, s.ocr_japanese_min_kana, s.ocr_min_confidence)
        lines: list[TextLine] = []
        for quad, (text, confidence) in zip(quads, texts, strict=True):
            text = " ".join(str(text).split())
            if confidence < s.ocr_min_confidence or not fold(text):
                continue
            x1, y1 = quad.min(axis=0) * scale
            x2, y2 = quad.max(axis=0) * scale
            box = (float(x1), float(y1), float(x2), float(y2))
            lines.append({"text": text, "confidence": float(confidence), "box": box})
        return lines

    @staticmethod
    def _detect(detector: Any, image: Image.Image) -> np.ndarray:
        detector.limit_side_len = max(image.size)
        bgr = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])
        boxes, _ = detector(bgr)
        return np.zeros((0, 4, 2), np.float32) if boxes is None else np.asarray(boxes)


class ModelCopies:
    """Up to `limit` copies of the models, each lent to one thread at a time (rapidocr keeps
    per-call sizes on itself). Two photos side by side on one core each read about as fast
    as one at a time on both, quietly measured, and hold a second copy's memory (README)."""

    def __init__(self, load: Callable[[], tuple[Any, Any]], limit: int):
        self._load, self._limit = load, limit
        self._free: queue.SimpleQueue[tuple[Any, Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self.made = 0

    @contextmanager
    def lend(self) -> Iterator[tuple[Any, Any]]:
        """A copy no other thread uses meanwhile: a free one, a new one while fewer than
        `limit` are made, else the next one given back."""
        with self._lock:
            try:
                models = self._free.get_nowait()
            except queue.Empty:
                models = None
                if self.made < self._limit:
                    self.made += 1
                    try:
                        models = self._load()
                    except BaseException:
                        self.made -= 1
                        raise
        if models is None:
            models = self._free.get()
        try:
            yield models
        finally:
            self._free.put(models)


class Network:
    """One OCR network in OpenVINO (fp32) or ONNX Runtime, called as rapidocr calls its
    sessions: one array in, a list of outputs back.

    A detection at 1600 px holds a few hundred MB of activations in OpenVINO (ONNX Runtime
    without its arena, as rapidocr runs it, ~170 MB): inputs over `large_pixels` take turns
    under `large_lock` (shared by the reader's copies), and the memory is given back after
    each, so side by side reading adds no second such peak. OpenVINO keeps what it prepared
    for an input shape in a cache of `shape_cache` shapes (ONNX Runtime keeps nothing)."""

    def __init__(
        self,
        engine: str,
        path: str,
        threads: int,
        large_pixels: int,
        large_lock: threading.Lock,
        shape_cache: int,
    ):
        self._large_pixels, self._large_lock = large_pixels, large_lock
        self._release: Callable[[], None] = lambda: None
        if engine == "openvino":
            from index.models.openvino_cpu import compile_for_cpu

            # Photos of new sizes do not pile up in the per-shape cache (`ocr_shape_cache`, a
            # property the CPU plugin takes at compile time but does not list).
            compiled = compile_for_cpu(path, threads, CPU_RUNTIME_CACHE_CAPACITY=shape_cache)
            request = compiled.create_infer_request()
            self._run: Callable[[np.ndarray], Any] = lambda array: request.infer({0: array})[0]
            self._release = compiled.release_memory
        else:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.enable_cpu_mem_arena = False  # sizes vary photo by photo
            options.intra_op_num_threads = threads
            options.log_severity_level = 3
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            name = session.get_inputs()[0].name
            self._run = lambda array: session.run(None, {name: array})[0]

    def __call__(self, array: np.ndarray) -> list[np.ndarray]:
        if array[0, 0].size <= self._large_pixels:
            return [self._run(array)]
        with self._large_lock:
            try:
                return [self._run(array)]
            finally:
                self._release()


def _onnx_bytes() -> int:
    import rapidocr_onnxruntime

    v6 = _v6_models()
    gate = Path(rapidocr_onnxruntime.__file__).parent.rglob("*det*.onnx")
    return file_bytes([*gate, *(p for p in (v6.detector, v6.recognizer) if p)])


def _v6_models() -> OcrModels:
    """The PP-OCRv6 small models in the installed rapidocr wheel (found without importing it)."""
    spec = importlib.util.find_spec("rapidocr")
    folder = Path(next(iter(spec.submodule_search_locations or []), "")) if spec else None
    if folder is None or not (folder / "models" / V6_RECOGNIZER).is_file():
        raise ModelUnavailable(
            "The PP-OCRv6 text models are not installed: pip install rapidocr==3.10.0 "
            "(or run with --no-ocr)."
        )
    return OcrModels(folder / "models" / V6_DETECTOR, folder / "models" / V6_RECOGNIZER)


def _shrunk(image: Image.Image, size: int) -> Image.Image:
    if max(image.size) <= size:
        return image
    copy = image.copy()
    copy.thumbnail((size, size), Image.Resampling.BILINEAR)
    return copy
