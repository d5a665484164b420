"""Words in photos: RapidOCR (PP-OCR detection + recognition on ONNX Runtime), behind a gate.

Reading every photo at OCR's defaults costs 0.5 s for a photo with no text and 2-5 s for a
sign board: many times the rest of indexing. Most photos hold no text, so the reader first
looks for text on a small copy (`ocr_gate_size`, a few tens of milliseconds); only where it
finds some does it detect again at `ocr_detect_size` and recognise each line from a larger
copy (`ocr_image_size`). The angle classifier is skipped: text upside down is rare in photos
and the classifier costs a pass per line.

The words stage (index/words_stage.py) runs this reader after CLIP and faces, over photos
whose words were not read yet by it (`MODEL_ID`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from PIL import Image

from index.folding import fold
from index.models.lifecycle import Lazy, file_bytes
from index.settings import Settings

# Recorded with each photo's words; a new reader or gate re-reads photos read by the old one.
MODEL_ID = "rapidocr-onnxruntime-1.4/ppocrv4-gated"


class TextLine(TypedDict):
    """One line of text read in a photo; `box` in original photo pixels (x1, y1, x2, y2)."""

    text: str
    confidence: float
    box: tuple[float, float, float, float]


class TextReader:
    """Reads the lines of text in an image; the ONNX models load on first use."""

    model_id = MODEL_ID

    def __init__(self, settings: Settings):
        self.settings = settings
        self.models = Lazy(
            "OCR (RapidOCR)", self._open, settings.model_idle_unload_minutes, _onnx_bytes
        )

    def _open(self) -> Any:
        from rapidocr_onnxruntime import RapidOCR

        threads = self.settings.torch_threads or -1
        engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1, print_verbose=False)
        # Sizes below are the longest side of what the detector sees; never upscale.
        engine.text_det.limit_type = "max"
        return engine

    def _get_engine(self) -> Any:
        return self.models.get()

    def read(self, image: Image.Image, scale: float = 1.0) -> list[TextLine]:
        """The lines of text in `image`, top to bottom; boxes multiplied by `scale` (so a
        reduced copy reports boxes in the original photo's pixels)."""
        s = self.settings
        gate = _shrunk(image, s.ocr_gate_size)
        if not len(self._detect(gate)):
            return []
        found = _shrunk(image, s.ocr_detect_size)
        boxes = self._detect(found)
        if not len(boxes):
            return []
        engine = self._get_engine()
        full = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])  # RapidOCR works in BGR
        ratio = image.width / found.width
        quads = [np.asarray(b, dtype=np.float32) * ratio for b in engine.sorted_boxes(boxes)]
        crops = engine.get_crop_img_list(full, quads)
        texts, _ = engine.text_rec(crops)
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

    def _detect(self, image: Image.Image) -> np.ndarray:
        engine = self._get_engine()
        engine.text_det.limit_side_len = max(image.size)
        bgr = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])
        boxes, _ = engine.text_det(bgr)
        return np.zeros((0, 4, 2), np.float32) if boxes is None else np.asarray(boxes)


def _onnx_bytes(_engine: Any) -> int:
    import rapidocr_onnxruntime

    return file_bytes(Path(rapidocr_onnxruntime.__file__).parent.rglob("*.onnx"))


def _shrunk(image: Image.Image, size: int) -> Image.Image:
    if max(image.size) <= size:
        return image
    copy = image.copy()
    copy.thumbnail((size, size), Image.Resampling.BILINEAR)
    return copy
