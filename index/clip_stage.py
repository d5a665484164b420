"""The CLIP stage: an image vector for each photo, so it can be found by description.

The CLIP input is prepared in the decode workers; the batch is encoded in the indexing
thread (`model_batch` images per forward pass). The first photos also calibrate an int8
encoder (index/models/int8.py): its vectors are used only once it matched fp32 on them.
"""

from __future__ import annotations

from typing import Any

from index.catalog import Catalog
from index.models import ClipModel
from index.models.int8 import accepted_backends, record_verdict
from index.scan import Decoded
from index.settings import Settings
from index.stage import Run


class ClipStage:
    """Image vectors of one CLIP model (see index/stage.py for the contract)."""

    name = "clip"
    doing = "indexing"
    uses_worker_cores = False

    def __init__(self, clip: ClipModel, settings: Settings):
        self.clip = clip
        self.settings = settings
        self.decode_size = settings.thumb_size  # CLIP's 224 px input comes from the thumbnail copy
        self._calibration: list[Any] = []  # CLIP inputs of the first photos, for the int8 check
        self._catalog: Catalog | None = None
        self._dim = 0

    def begin(self, catalog: Catalog, run: Run) -> set[int] | None:
        """Load the model (saying so); None with a note when it cannot, else the photos
        without a usable vector of this model."""
        if not self.clip.loaded:
            # On first use this also exports the model for the faster encoder (a minute or so).
            run.progress(0, 0, "loading the CLIP model")
        if not self.clip.is_available():
            run.notes.append(
                "Photos were catalogued without CLIP vectors, so text search needs the model: "
                f"{self.clip.load_error} Run `index` again once the model is available to fill "
                "them in."
            )
            return None
        self._catalog = catalog
        self._calibration = []
        record_verdict(catalog, self.clip.spec, self.clip.int8_verdict())
        backends = accepted_backends(catalog, self.clip)
        return {r["id"] for r in catalog.photos_missing_vectors(self.clip.spec, run.root, backends)}

    def analyze(self, decoded: Decoded) -> Any:
        """The CLIP input tensor of one photo (in a decode worker)."""
        return self.clip.preprocess(decoded.image)

    def batch(self, analysed: list[Any]) -> list[Any]:
        """(vector, backend) per photo, encoded `model_batch` at a time.

        Writes nothing: a write here would open the catalog's write transaction before the
        slow face analysis and hold other writers (the chat naming someone) off meanwhile.
        """
        import torch

        out: list[Any] = []
        step = max(1, self.settings.model_batch)
        for start in range(0, len(analysed), step):
            pixels = analysed[start : start + step]
            self._collect_calibration(pixels)
            vecs = self.clip.encode_preprocessed(torch.stack(pixels))
            backend = self.clip.image_backend
            out.extend((vec, backend) for vec in vecs)
        return out

    def write(self, catalog: Catalog, photo_id: int, result: Any) -> bool:
        """Store one photo's vector and the backend that made it."""
        vec, backend = result
        if not self._dim:
            self._dim = int(vec.shape[0])
            catalog.record_model("clip", self.clip.spec, self._dim)
        catalog.put_image_vector(photo_id, self.clip.spec, vec, backend)
        return True

    def after_batch(self, catalog: Catalog, photo_ids: list[int]) -> None:
        """Nothing to finish: the indexer marks the image index stale after every batch."""
        self._dim = 0  # recorded again in the next batch's transaction

    def end(self, catalog: Catalog, run: Run) -> None:
        """Check int8 on what there was (fewer photos than the sample), pass on the notes.

        Too few photos (a folder holding one video: its poster) would calibrate and check int8
        on a handful of images; fp32 stays until a run brings `clip_calibration_min_photos`."""
        if len(self._calibration) >= self.settings.clip_calibration_min_photos:
            self._calibrate(catalog)
        self._calibration = []
        run.notes.extend(self.clip.notes)
        self.clip.notes.clear()

    def _collect_calibration(self, pixels: list[Any]) -> None:
        """Keep the first photos' inputs until there are enough to check int8 on them."""
        wanted = self.settings.clip_calibration_photos
        if not self.clip.needs_calibration() or len(self._calibration) >= wanted:
            return
        self._calibration.extend(pixels[: wanted - len(self._calibration)])
        if len(self._calibration) >= wanted and self._catalog is not None:
            self._calibrate(self._catalog)

    def _calibrate(self, catalog: Catalog) -> None:
        """Check int8 against fp32 on the collected photos and record the verdict."""
        import torch

        verdict = self.clip.calibrate(torch.stack(self._calibration))
        self._calibration = []
        record_verdict(catalog, self.clip.spec, verdict)
