"""Faster encoder backends for a CLIP model: exported once, cached, checked, then trusted.

The model the user chose is the truth; how it runs is a backend. torch is the reference.
On first use the model's image (and text) tower is exported to ONNX into the data dir,
keyed by the model spec and its weights' hash, and run by ONNX Runtime or OpenVINO.

Two checks guard the vectors:
- an fp32 export is used only when its vectors match torch's (every cosine >= the
  `clip_fp32_min_cosine` setting, 0.9999) on a fixed sample; else torch is kept;
- an int8 image tower is built from the user's own photos and used only after it proved
  itself on them (`calibrate`: every cosine to fp32 >= `clip_int8_min_cosine`, 0.99).
  Static quantisation is tried first (activation ranges measured on the photos, weights per
  output channel, the sensitive layers kept fp32: `quantise_static`), dynamic second; the
  verdict says which one runs, or why fp32 does, and is kept beside the export, so it is
  asked and said once. The int8 tower is built by ONNX Runtime's quantiser and run by the
  `clip_int8_engine` (`int8_engine`: OpenVINO where installed, which ran the same tower
  ~1.4x faster than ONNX Runtime here); it is checked as that engine runs it.

Vectors record the backend that made them (`Runtime.id`); `compatible_backends` says
which backends' vectors may share one index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.models.openvino_cpu import compile_for_cpu, in_fixed_batches

if TYPE_CHECKING:
    from index.models.torch_clip import TorchClip

log = logging.getLogger(__name__)

TORCH = "torch"
RUNTIMES = ("onnxruntime", "openvino")
EXPORT_VERSION = 1  # bump when the export itself changes: old caches are then rebuilt
INT8_FILE = "image.int8.onnx"
# Photos per run while static quantisation measures activation ranges: ranges are the same
# whatever the batch (min and max over all photos); ONNX Runtime keeps the memory of its
# largest run, which for the model instrumented for it is ~120 MB a photo (ViT-B-32).
CALIBRATION_BATCH = 2
_CHECK_TEXTS = ["a photo of a dog on the beach", "Alice and Bob", "", "x " * 40]


class ExportFailed(Exception):
    """The model could not be exported or its export does not match torch; torch is kept."""


@dataclass(frozen=True)
class Verdict:
    """The int8 self-check on the user's photos: which quantiser, if any, kept close enough."""

    passed: bool
    min_cosine: float  # of the int8 tower kept, else the best one tried
    photos: int
    threshold: float
    method: str | None = None  # "static" or "dynamic": the quantiser whose tower is used
    tried: dict = field(default_factory=dict)  # quantiser -> smallest cosine (or why it failed)
    methods: list = field(default_factory=list)  # the quantisers on offer when it was checked
    reason: str = ""  # one line for `stats` and the benchmark's JSON
    engine: str = "onnxruntime"  # what ran the int8 tower when it was checked


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1, float32 (the one normalisation every backend's output gets)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest row-wise cosine between two stacks of vectors."""
    return float((unit(a) * unit(b)).sum(axis=1).min()) if len(a) else 1.0


def weights_hash(files: list[Path], memo_file: Path) -> str:
    """One hash of the weight files' contents, memoised by (path, size, mtime) in `memo_file`."""
    try:
        memo = json.loads(memo_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    parts = []
    for path in sorted(files):
        st = path.stat()
        key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        if key not in memo:
            with path.open("rb") as f:
                memo[key] = hashlib.file_digest(f, "blake2b").hexdigest()[:32]
        parts.append(memo[key])
    memo_file.parent.mkdir(parents=True, exist_ok=True)
    _write_json(memo_file, memo)
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()


def export_key(spec: str, weights: str) -> str:
    """The cache folder name for one model (spec + weights' hash + export format)."""
    raw = f"{spec}|{weights}|v{EXPORT_VERSION}".encode()
    return hashlib.blake2b(raw, digest_size=10).hexdigest()


def compatible_backends(int8_passed: bool) -> list[str]:
    """Backends whose image vectors may share one index: every fp32 backend (each checked
    against torch when exported), and int8 only once it passed the check on this library."""
    int8 = [f"{e}-int8" for e in RUNTIMES] if int8_passed else []
    return [TORCH, *(f"{e}-fp32" for e in RUNTIMES), *int8]


def int8_engine(settings: Any) -> str:
    """What runs the int8 image tower: `clip_int8_engine`, where "auto" is OpenVINO when it is
    installed (faster on the same tower here, README), else ONNX Runtime."""
    wanted = settings.clip_int8_engine
    if wanted != "auto":
        return wanted
    import importlib.util

    return "openvino" if importlib.util.find_spec("openvino") else "onnxruntime"


class Runtime:
    """One exported tower running in ONNX Runtime or OpenVINO: arrays in, features out.

    With `batch`, OpenVINO runs the tower at that one batch size (index/models/openvino_cpu.py:
    each new batch size cost it ~5 ms a photo to prepare, ~160 ms of a 24-photo run). ONNX
    Runtime prepares nothing per shape and runs the inputs as given.
    """

    def __init__(self, engine: str, path: Path, threads: int, batch: int | None = None):
        self.engine, self.path = engine, path
        self.batch = batch if engine == "openvino" and batch else None
        self.precision = "int8" if path.name.endswith(".int8.onnx") else "fp32"
        self.id = f"{engine}-{self.precision}"
        if engine == "onnxruntime":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.intra_op_num_threads = threads
            options.log_severity_level = 3
            # No busy-waiting between ops: the face models run beside it on the same cores.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            self.inputs = [i.name for i in session.get_inputs()]
            self._run = lambda feed: session.run(None, feed)[0]
        elif engine == "openvino":
            compiled = compile_for_cpu(path, threads, self.batch)
            self.inputs = [p.get_any_name() for p in compiled.inputs]
            request = compiled.create_infer_request()
            self._run = lambda feed: request.infer(feed)[0]
        else:
            raise ExportFailed(f"unknown encoder backend {engine!r}")

    def __call__(self, *arrays: np.ndarray) -> np.ndarray:
        """Features for the inputs, in the order the tower was exported with."""
        if self.batch is None:
            return self._features(arrays)
        return in_fixed_batches(lambda part: [self._features(part)], arrays, self.batch)[0]

    def _features(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        feed = dict(zip(self.inputs, arrays, strict=True))
        return np.asarray(self._run(feed), dtype=np.float32)


class ExportedClip:
    """A model's exported towers in one cache folder, with the checks that make them usable."""

    def __init__(self, folder: Path, engine: str, threads: int, settings: Any):
        self.folder, self.engine, self.threads, self.settings = folder, engine, threads, settings
        self.int8_engine = int8_engine(settings)
        self._image: Runtime | None = None
        self._image_precision: str | None = None  # which tower `image` is, while released too
        self._image_fp32: Runtime | None = None
        self.text: Runtime | None = None
        self._int8: Runtime | None = None
        self.fp32_min_cosine: float | None = None

    # --- building ---

    def open(self, torch_model: TorchClip) -> None:
        """Export (or reuse the cached export), check fp32 against torch, start the runtimes."""
        self.folder.mkdir(parents=True, exist_ok=True)
        manifest = self._read("manifest.json")
        if manifest is None:
            started = time.perf_counter()
            self._export(torch_model)
            manifest = {"exported_in_s": round(time.perf_counter() - started, 1)}
        if (self.folder / "text.onnx").is_file():
            self.text = Runtime(self.engine, self.folder / "text.onnx", self.threads)
        checked = manifest.get(f"fp32_min_cosine_{self.engine}")
        if checked is None:
            checked = self._check_fp32(torch_model)
            manifest[f"fp32_min_cosine_{self.engine}"] = checked
            _write_json(self.folder / "manifest.json", manifest)
        self.fp32_min_cosine = checked
        if checked < self.settings.clip_fp32_min_cosine:
            raise ExportFailed(
                f"the {self.engine} export differs from torch (cosine {checked:.6f} < "
                f"{self.settings.clip_fp32_min_cosine})"
            )
        if self._int8_ready():
            # Opened by `image`, once torch's copy of the weights is let go (ClipModel.load):
            # the two are never in memory together.
            self._image_precision = "int8"
            self._image_fp32 = None  # loaded only if the fp32 check just ran: memory back
        else:
            self.image = self.image_fp32

    @property
    def image(self) -> Runtime | None:
        """The image tower in use (int8 once it passed its check, else fp32), opened at
        first use: after `open`, which leaves int8 to be opened once torch's weights are let
        go, and after `release_image`."""
        return self.open_image()

    def open_image(self) -> Runtime | None:
        """`image`, opened now if it is not open yet."""
        if self._image is None and self._image_precision is not None:
            tower = self.int8 if self._image_precision == "int8" else None
            self.image = tower or self.image_fp32
        return self._image

    @image.setter
    def image(self, tower: Runtime | None) -> None:
        self._image = tower
        self._image_precision = tower.precision if tower is not None else None

    @property
    def image_id(self) -> str | None:
        """The image tower's backend (e.g. "openvino-int8"), without opening it."""
        if self._image is not None:
            return self._image.id
        if self._image_precision is None:
            return None
        engine = self.int8_engine if self._image_precision == "int8" else self.engine
        return f"{engine}-{self._image_precision}"

    def release_image(self) -> None:
        """Close the image tower until the next image is encoded: searches by description
        need only the text tower, and the image tower holds ~260 MB (ViT-B-32 int8)."""
        self._image = self._int8 = self._image_fp32 = None

    @property
    def image_fp32(self) -> Runtime:
        """The fp32 image tower, started on first use: with int8 passed it is needed only to
        check int8 again, so it takes no memory while indexing."""
        if self._image_fp32 is None:
            self._image_fp32 = self._image_tower(self.engine, self.folder / "image.onnx")
        return self._image_fp32

    def _image_tower(self, engine: str, path: Path) -> Runtime:
        """An image tower, run `clip_run_batch` photos at a time (see `Runtime`)."""
        return Runtime(engine, path, self.threads, batch=self.settings.clip_run_batch)

    def _export(self, torch_model: TorchClip) -> None:
        import torch

        size = _input_size(torch_model)
        pixels = torch.zeros((2, 3, size, size))
        tmp = self.folder / "image.onnx.tmp"
        _onnx_export(torch_model.image_module(), (pixels,), tmp, ["pixels"], lengths=False)
        os.replace(tmp, self.folder / "image.onnx")
        text = torch_model.text_module()
        if text is not None:
            tokens = torch_model.tokenize(_CHECK_TEXTS[:2])
            args = tuple(torch.from_numpy(v) for v in tokens.values())
            tmp = self.folder / "text.onnx.tmp"
            try:
                _onnx_export(text, args, tmp, list(tokens), lengths=True)
                os.replace(tmp, self.folder / "text.onnx")
            except ExportFailed as err:
                log.info("text tower not exported, torch encodes texts: %s", err)
                tmp.unlink(missing_ok=True)

    def _check_fp32(self, torch_model: TorchClip) -> float:
        """The smallest cosine between this backend's and torch's vectors on a fixed sample."""
        import torch

        size = _input_size(torch_model)
        pixels = torch.from_numpy(
            np.random.default_rng(0).normal(size=(4, 3, size, size)).astype(np.float32)
        )
        with torch.inference_mode():
            ref = torch_model.encode_image(pixels).float().numpy()
        worst = min_cosine(self.image_fp32(pixels.numpy()), ref)
        if self.text is not None:
            tokens = torch_model.tokenize(_CHECK_TEXTS)
            with torch.inference_mode():
                ref = torch_model.encode_tokens(
                    {k: torch.from_numpy(v) for k, v in tokens.items()}
                ).numpy()
            worst = min(worst, min_cosine(self.text(*tokens.values()), ref))
        return worst

    # --- int8 ---

    @property
    def int8(self) -> Runtime | None:
        """The quantised image tower that passed its check on this library's photos, or None."""
        if self._int8 is None and self._int8_ready():
            self._int8 = self._image_tower(self.int8_engine, self.folder / INT8_FILE)
        return self._int8

    def _int8_ready(self) -> bool:
        """Whether an int8 tower is on offer, built, and passed its check as it now stands."""
        verdict = self.verdict() if self.offers_int8() else None
        return verdict is not None and verdict.passed and (self.folder / INT8_FILE).is_file()

    def verdict(self) -> Verdict | None:
        """The stored int8 self-check at the current threshold, methods and engine (None: not
        asked; a tower checked as another engine ran it is checked again)."""
        data = self._read("calibration.json")
        if (
            not data
            or data.get("threshold") != self.settings.clip_int8_min_cosine
            or data.get("methods") != list(QUANTISERS)
            or data.get("engine", "onnxruntime") != self.int8_engine
        ):
            return None
        return Verdict(**data)

    def offers_int8(self) -> bool:
        """Whether an int8 image tower may be built here (ONNX Runtime, int8 not turned off)."""
        return bool(self.settings.clip_int8) and self.engine == "onnxruntime"

    def needs_calibration(self) -> bool:
        """Whether int8 is on offer and has not yet been checked on this library's photos."""
        return self.offers_int8() and self.image is not None and self.verdict() is None

    def calibrate(self, pixels: np.ndarray) -> Verdict:
        """Quantise the image tower with the user's photos and keep the first int8 tower whose
        vectors stay close to fp32 on every one of them; else fp32 stays, and says why.

        Static quantisation learns its activation ranges from the first half of the photos and
        is checked on all of them (the second half unseen); dynamic quantisation is the second
        try. A tower is built only to be checked: on failure its file is removed."""
        reference = in_batches(self.image_fp32, pixels, self.settings.model_batch)
        threshold = self.settings.clip_int8_min_cosine
        path, tried = self.folder / INT8_FILE, {}
        self._int8 = None
        for method, quantise in QUANTISERS.items():
            tmp = self.folder / f"image.{method}.tmp.onnx"
            try:
                quantise(self.folder / "image.onnx", tmp, pixels[: max(1, len(pixels) // 2)])
                candidate = self._image_tower(self.int8_engine, tmp)
                vectors = in_batches(candidate, pixels, self.settings.model_batch)
                tried[method] = round(min_cosine(vectors, reference), 6)
                del candidate  # the tower kept is opened again below, under its own name
            except Exception as err:  # noqa: BLE001 - a quantiser failing keeps fp32, said why
                tried[method] = f"failed: {type(err).__name__}: {str(err)[:200]}"
                tmp.unlink(missing_ok=True)
                continue
            if tried[method] >= threshold:
                os.replace(tmp, path)
                self._int8 = self._image_tower(self.int8_engine, path)
                break
            tmp.unlink(missing_ok=True)
        cosines = [c for c in tried.values() if isinstance(c, float)]
        worst = max(cosines) if cosines else 0.0
        passed = self._int8 is not None
        method = next(
            (m for m, c in tried.items() if isinstance(c, float) and c >= threshold), None
        )
        if passed:
            reason = (
                f"{method} int8 kept ({self.int8_engine} runs it): every cosine to fp32 >= "
                f"{threshold} on {len(pixels)} photos"
            )
        else:
            reason = (
                f"fp32 kept: no int8 tower held cosine >= {threshold} on {len(pixels)} photos "
                f"({', '.join(f'{m} {c}' for m, c in tried.items())})"
            )
        verdict = Verdict(
            passed=passed,
            min_cosine=round(worst, 6),
            photos=len(pixels),
            threshold=threshold,
            method=method,
            tried=tried,
            methods=list(QUANTISERS),
            reason=reason,
            engine=self.int8_engine,
        )
        _write_json(self.folder / "calibration.json", verdict.__dict__)
        self.image = self._int8 if passed else self.image_fp32
        if passed:
            self._image_fp32 = None  # int8 runs from now on: its fp32 reference is freed
        return verdict

    def _read(self, name: str) -> dict | None:
        try:
            return json.loads((self.folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


def _input_size(torch_model: TorchClip) -> int:
    from PIL import Image

    return int(torch_model.preprocess(Image.new("RGB", (8, 8))).shape[-1])


def _onnx_export(module: Any, args: tuple, dest: Path, names: list[str], lengths: bool) -> None:
    """Export with a dynamic batch axis (and a dynamic token length when `lengths`).

    Images go through the TorchScript exporter: quick, and exact for these towers. Texts
    need a dynamic length (a query is a few tokens, not 77), which only the torch.export
    based exporter keeps dynamic through the attention reshapes.
    """
    import contextlib
    import io
    import warnings

    import torch

    try:
        # Grad on: under no_grad, nn.MultiheadAttention takes a fused fast path ONNX lacks.
        with (
            warnings.catch_warnings(),
            torch.inference_mode(False),
            torch.enable_grad(),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            if lengths:  # text: batch and sequence length vary (the dynamo exporter)
                n, length = torch.export.Dim("n"), torch.export.Dim("length", min=2, max=512)
                how = {
                    "dynamic_shapes": (tuple({0: n, 1: length} for _ in args),),
                    "opset_version": 18,
                    "dynamo": True,
                    "verbose": False,
                    "external_data": False,
                }
            else:  # images: only the batch varies (the TorchScript exporter)
                how = {
                    "dynamic_axes": {**{k: {0: "n"} for k in names}, "features": {0: "n"}},
                    "opset_version": 17,
                    "dynamo": False,
                }
            torch.onnx.export(
                module, args, str(dest), input_names=names, output_names=["features"], **how
            )
    except Exception as err:  # noqa: BLE001 - exporters fail in many ways; torch stays
        raise ExportFailed(f"{type(err).__name__}: {str(err)[:300]}") from err


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _input_and_fp32_products(fp32: Path) -> tuple[str, list[str]]:
    """(the tower's input name, the matrix products quantisation leaves fp32): products of two
    activations (attention's scores and weighted values) and the last product with weights
    (the projection into the space shared with texts). The graph read for it (the whole
    model, a few hundred MB) is freed on return, before the quantiser loads its own copies."""
    import onnx

    graph = onnx.load(str(fp32), load_external_data=False).graph
    weights = {i.name for i in graph.initializer}
    products = [n for n in graph.node if n.op_type in ("MatMul", "Gemm")]
    keep = [n.name for n in products if not set(n.input[:2]) & weights]
    keep += [n.name for n in products if set(n.input[:2]) & weights][-1:]
    return graph.input[0].name, keep


def in_batches(tower: Callable[[np.ndarray], np.ndarray], pixels: np.ndarray, step: int):
    """A tower's features for many photos, `step` at a time: ONNX Runtime keeps the memory of
    its largest run, so a check on all the calibration photos at once would hold it on."""
    step = max(1, step)
    return np.concatenate([tower(pixels[i : i + step]) for i in range(0, len(pixels), step)])


def quantise_static(fp32: Path, dest: Path, photos: np.ndarray, **variant: Any) -> None:
    """int8 tower with activation ranges measured on photos: weights int8 per output channel,
    activations uint8; only the matrix products with weights and the patch convolution are
    quantised, so softmax, layer norms, attention's activation x activation products and the
    final projection stay fp32 (they are where quantisation error grows).

    `variant`: `quantize_static` arguments to use instead (bench/int8_variants.py compares)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    name, keep = _input_and_fp32_products(fp32)
    step = CALIBRATION_BATCH

    class Photos(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(photos[i : i + step] for i in range(0, len(photos), step))

        def get_next(self) -> dict | None:
            batch = next(self.batches, None)
            return None if batch is None else {name: batch}

    how = {
        "quant_format": QuantFormat.QDQ,
        "per_channel": True,
        "activation_type": QuantType.QUInt8,
        "weight_type": QuantType.QInt8,
        "op_types_to_quantize": ["MatMul", "Conv", "Gemm"],
        "nodes_to_exclude": keep,
        "calibrate_method": CalibrationMethod.MinMax,
        "extra_options": {"MatMulConstBOnly": True},
    }
    quantize_static(str(fp32), str(dest), Photos(), **{**how, **variant})


def quantise_dynamic(fp32: Path, dest: Path, photos: np.ndarray) -> None:
    """int8 weights, activations quantised per batch as they come (no photos needed)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(fp32, dest, weight_type=QuantType.QInt8)


# Tried in this order by `calibrate`; the first to pass is used.
QUANTISERS = {"static": quantise_static, "dynamic": quantise_dynamic}
