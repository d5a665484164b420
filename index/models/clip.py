"""`ClipModel`: images and texts in, unit vectors out; loads on first use, unloads when idle.

Which library runs the model is a backend (see index/models/encoders.py): torch is the reference and
the fallback; an ONNX Runtime or OpenVINO export is used when asked for and when it matches.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.errors import ModelUnavailable
from index.models import encoders, lifecycle
from index.models.checks import missing_hub_files, precheck
from index.models.spec import parse_clip_spec
from index.settings import DEFAULT_CLIP, Settings

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from index.models.torch_clip import TorchClip

log = logging.getLogger(__name__)
AUTO_BACKEND = "onnxruntime"  # what "auto" means: the faster of the two, measured (README)


class ClipModel:
    """One CLIP model: images and texts in, L2-normalised float32 vectors out.

    Construction is free; weights load on first use (or `load()`), once, thread-safely, and
    are dropped again after `settings.clip_idle_unload_minutes` without use.
    """

    def __init__(
        self,
        spec: str = DEFAULT_CLIP,
        device: str = "cpu",
        threads: int = 0,
        backend: str = encoders.TORCH,
        cache_dir: Path | None = None,
        settings: Settings | None = None,
    ):
        """Remember which model to use; loads nothing. threads=0 means one per physical core.

        `backend` is "torch", "onnxruntime", "openvino" or "auto"; anything but torch needs a
        `cache_dir` for the exported model.
        """
        self.clip_spec = parse_clip_spec(spec)
        self.spec = str(self.clip_spec)
        self.device = device
        self.threads = threads
        self.settings = settings or Settings()
        backend = AUTO_BACKEND if backend == "auto" else backend
        self.backend_wanted = backend if (cache_dir is not None and device == "cpu") else "torch"
        self.cache_dir = cache_dir
        self.notes: list[str] = []  # things a user should hear once (a backend fell back, ...)
        self._torch: TorchClip | None = None
        self._exported: encoders.ExportedClip | None = None
        self._error: ModelUnavailable | None = None
        self._dim: int | None = None
        self._lock = threading.RLock()
        self._last_used = time.monotonic()
        self._watcher: threading.Thread | None = None
        lifecycle.register(self)

    # --- loading ---

    def load(self) -> None:
        """Load the weights now; raises ModelUnavailable (fast, with what to do) when it cannot."""
        self._last_used = time.monotonic()
        if self._torch is not None:
            return
        with self._lock:
            if self._torch is not None:
                return
            if self._error is not None:
                raise self._error
            try:
                precheck(self.clip_spec)
                threads = _set_torch_threads(self.threads)
                from index.models.torch_clip import open_torch_clip

                self._torch = open_torch_clip(self.clip_spec, self.device)
            except ModelUnavailable as err:
                self._error = err
                raise
            if self.backend_wanted != encoders.TORCH:
                self._exported = self._open_export(self._torch, threads)
                exported = self._exported
                if exported is not None and exported.image_id and exported.text:
                    # Both towers run exported and checked: torch's copy of the weights is
                    # dead weight (~600 MB for ViT-B-32). Unloading frees the rest.
                    self._torch.release_weights()
                    gc.collect()
                if exported is not None:  # int8 opens now, never beside torch's weights
                    exported.open_image()
            self._watch_idle()

    def _open_export(self, model: TorchClip, threads: int) -> encoders.ExportedClip | None:
        assert self.cache_dir is not None
        try:
            digest = encoders.weights_hash(model.weight_files(), self.cache_dir / "hashes.json")
            folder = self.cache_dir / encoders.export_key(self.spec, digest)
            exported = encoders.ExportedClip(folder, self.backend_wanted, threads, self.settings)
            exported.open(model)
            return exported
        except (encoders.ExportFailed, ImportError, OSError, RuntimeError, ModelUnavailable) as err:
            self._say(f"The {self.backend_wanted} encoder is not used, torch runs CLIP ({err}).")
            return None

    def download(self, report: Callable[[int, int, str], None]) -> None:
        """Fetch the weights into the hub cache before loading, reporting (bytes done, bytes in
        all, file) as they come; nothing to do for folders, cached files or offline machines."""
        if self._torch is not None or self._error is not None:
            return
        missing = missing_hub_files(self.clip_spec)
        if missing is None:
            return
        from index.download import fetch

        try:
            fetch(*missing, report)
        except Exception as err:  # network and hub errors of many kinds: load() explains
            log.warning("downloading %s failed (%s); loading will say why", self.spec, err)

    def check(self) -> str | None:
        """Why the model cannot load, from a cheap look at its files (no torch); None if it may."""
        if self._torch is not None:
            return None
        if self._error is None:
            try:
                precheck(self.clip_spec)
            except ModelUnavailable as err:
                self._error = err
        return self.load_error

    def unload(self) -> None:
        """Drop the weights (they load again on the next use)."""
        with self._lock:
            self._torch = None
            self._exported = None
        gc.collect()

    def release_image_tower(self) -> None:
        """Free the exported image tower until the next image is encoded (it opens again
        then): the words pass after indexing, and searches by description, do not use it."""
        with self._lock:
            if self._exported is not None:
                self._exported.release_image()
        gc.collect()

    def _watch_idle(self) -> None:
        if self._watcher is not None and self._watcher.is_alive():
            return
        self._watcher = lifecycle.watch_idle(
            self,
            f"CLIP {self.spec}",
            self.settings.clip_idle_unload_minutes,
            lambda model: model._last_used,
            lambda model: model._torch is not None,
            lambda model: model.unload(),
        )

    @property
    def name(self) -> str:
        """What `stats --json` calls this model among the loaded ones."""
        exported = self._exported
        backend = (exported.image_id if exported else None) or encoders.TORCH
        return f"CLIP {self.spec} ({backend})"

    def memory_bytes(self) -> int:
        """About how much memory the loaded weights hold (torch; an export besides)."""
        model = self._torch
        if model is None:
            return 0
        exported = self._exported
        files = list(exported.folder.glob("*.onnx")) if exported is not None else []
        return lifecycle.torch_bytes(model.model) + lifecycle.file_bytes(files)

    def is_available(self) -> bool:
        """Whether the model loads; tries once, remembers the answer, never raises."""
        try:
            self.load()
        except ModelUnavailable:
            return False
        return True

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory now."""
        return self._torch is not None

    @property
    def load_error(self) -> str | None:
        """Why the model could not load, or None if it loaded or was never tried."""
        return str(self._error) if self._error is not None else None

    @property
    def dim(self) -> int:
        """Length of the vectors this model produces (loads the model)."""
        if self._dim is None:
            # Asking the text tower is the one way that works for every model family.
            self._dim = int(self.encode_texts([""]).shape[1])
        return self._dim

    # --- backends ---

    @property
    def image_backend(self) -> str:
        """The backend making image vectors now, as recorded beside each vector."""
        self.load()
        exported = self._exported
        return (exported.image_id if exported else None) or encoders.TORCH

    @property
    def text_backend(self) -> str:
        """The backend making text vectors now."""
        self.load()
        exported = self._exported
        return exported.text.id if exported and exported.text else encoders.TORCH

    def needs_calibration(self) -> bool:
        """Whether an int8 encoder waits to be checked on a sample of the user's photos."""
        self.load()
        return self._exported is not None and self._exported.needs_calibration()

    def int8_verdict(self) -> encoders.Verdict | None:
        """The int8 self-check kept beside the export (None: not checked, or no export)."""
        self.load()
        return self._exported.verdict() if self._exported is not None else None

    def calibrate(self, batch: torch.Tensor) -> encoders.Verdict | None:
        """Build int8 from these preprocessed photos and check it against fp32 on them; keep
        it only if it holds."""
        self.load()
        exported = self._exported
        if exported is None or not exported.offers_int8() or not len(batch):
            return None
        verdict = exported.calibrate(batch.numpy())
        if not verdict.passed:
            self._say(
                f"The int8 encoder drifted on your photos (best cosine {verdict.min_cosine:.4f} "
                f"< {verdict.threshold} on {verdict.photos} photos); fp32 is used instead."
            )
        return verdict

    def _say(self, note: str) -> None:
        log.warning("%s", note)
        self.notes.append(note)

    # --- encoding ---

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """The model's own image transform: a PIL image in, a (3, H, W) tensor out."""
        return self._loaded().preprocess(image)

    def encode_preprocessed(self, batch: torch.Tensor) -> np.ndarray:
        """Vectors for a batch of `preprocess` outputs: (n, dim) float32, L2-normalised."""
        import torch

        model = self._loaded()
        if batch.ndim == 3:
            batch = batch.unsqueeze(0)
        exported = self._exported
        if exported is not None and exported.image is not None:
            return encoders.unit(exported.image(batch.numpy()))
        with torch.inference_mode():
            return encoders.unit(model.encode_image(batch.to(self.device)).float().cpu().numpy())

    def encode_images(self, images: list[Image.Image]) -> np.ndarray:
        """Vectors for PIL images (preprocess + encode), one row per image."""
        import torch

        if not images:
            return np.zeros((0, self.dim), np.float32)
        model = self._loaded()
        return self.encode_preprocessed(torch.stack([model.preprocess(im) for im in images]))

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Vectors for texts: (n, dim) float32, L2-normalised."""
        import torch

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        model = self._loaded()
        exported = self._exported
        if exported is not None and exported.text is not None:
            return encoders.unit(exported.text(*model.tokenize(list(texts)).values()))
        with torch.inference_mode():
            return encoders.unit(model.encode_text(list(texts)).float().cpu().numpy())

    def _loaded(self) -> TorchClip:
        self.load()
        model = self._torch
        if model is None:  # unloaded by the idle watcher between the two lines above
            self.load()
            model = self._torch
        assert model is not None
        return model

    def __repr__(self) -> str:
        state = "loaded" if self._torch else ("unavailable" if self._error else "not loaded")
        return f"ClipModel({self.spec!r}, device={self.device!r}, {state})"


def _set_torch_threads(threads: int) -> int:
    """Pin torch's intra-op threads: oversubscribing logical cores slows CPU inference."""
    import torch

    if threads <= 0:
        import psutil

        threads = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    torch.set_num_threads(threads)
    return threads
