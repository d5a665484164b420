"""MTCNN face detection: facenet-pytorch's three networks and weights, our own cascade.

The cascade (image pyramid, P-net proposals, R-net and O-net refinement, non-maximum
suppression) follows facenet-pytorch's `detect_face` step for step, for one image, with
the pixel work where it is cheap. Every resize gives torch's `interpolate(mode="area")`
numbers (facenet-pytorch's own, so the same boxes), computed another way: the pyramid's
levels from one summed-area table of the photo (OpenCV's `integral`, four lookups per
pixel, instead of torch's adaptive average pooling, a fifth of the detector's time), each
candidate's 24 and 48 px crop from the same table, all at once; box bookkeeping is numpy.
The networks run one thread per caller (the indexer's decode workers): P-net in torch,
R-net and O-net, which take a batch of crops, in OpenVINO where it is installed, at one
batch size (index/models/openvino_cpu.py): R-net ran ~1.8x faster there than in torch (a
camera photo's ~140 candidates: 5.1 against 9.3 ms of one core), the same numbers to 1e-6.
The face models' front door is index/faces.py.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

THRESHOLDS = (0.6, 0.7, 0.7)  # P-net, R-net, O-net face probability to go on
FACTOR = 0.709  # one pyramid level to the next (side)
# Crops per OpenVINO run: R-net sees ~60 candidates in a small photo, ~140 in a camera
# photo's 500 px copy (32 ran as fast per crop as 64); O-net the few R-net kept.
RNET_BATCH, ONET_BATCH = 32, 8


@dataclass(frozen=True)
class Found:
    """MTCNN's faces in one image: boxes (n, 4) x1 y1 x2 y2, scores (n,), landmarks (n, 5, 2)."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray


log = logging.getLogger(__name__)

NOTHING = Found(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2)))


class Mtcnn:
    """The detector: `detect(rgb, min_face)`; one per thread (an OpenVINO request runs one
    call at a time, and torch's buffers stay apart)."""

    def __init__(
        self,
        thresholds: tuple[float, float, float] = THRESHOLDS,
        factor: float = FACTOR,
        engine: str = "auto",
    ):
        """`engine` runs R-net and O-net: "torch", "openvino", or "auto" (OpenVINO where
        it is installed)."""
        import torch
        from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

        self.thresholds = thresholds
        self.factor = factor
        self.pnet, self.rnet, self.onet = PNet().eval(), RNet().eval(), ONet().eval()
        if engine == "auto":
            engine = "openvino" if importlib.util.find_spec("openvino") else "torch"
        self.engine = engine
        # P-net (one image, 10-32 channels): channels-first, pooling as strided maxima.
        for name, layer in list(self.pnet.named_children()):
            if isinstance(layer, torch.nn.MaxPool2d):
                setattr(self.pnet, name, _ceil_max_pool(layer.kernel_size, layer.stride))
        # R-net and O-net (a batch of crops, 28-128 channels): channels-last, where torch's
        # own pooling is several times faster; the crops are cut channels-last already.
        self.rnet.to(memory_format=torch.channels_last)
        self.onet.to(memory_format=torch.channels_last)
        self._rnet, self._onet = _torch_net(self.rnet), _torch_net(self.onet)
        if engine == "openvino":
            try:
                rnet = _openvino_net("rnet", self.rnet, 24, RNET_BATCH)
                onet = _openvino_net("onet", self.onet, 48, ONET_BATCH)
            except Exception as err:  # noqa: BLE001 - any failure of the runtime: torch runs them
                log.warning("OpenVINO could not run MTCNN's R-net and O-net, torch does: %s", err)
                self.engine = "torch"
            else:
                self._rnet, self._onet = rnet, onet

    def nets(self) -> tuple[Any, Any, Any]:
        """P-net, R-net, O-net (torch modules)."""
        return self.pnet, self.rnet, self.onet

    def detect(self, rgb: np.ndarray, min_face: float, max_face: float | None = None) -> Found:
        """Faces at least ~`min_face` px across in an (H, W, 3) RGB image, best first as
        MTCNN's last suppression leaves them; with `max_face`, only the pyramid levels that
        look for faces up to about that size (a finer second look)."""
        import cv2
        import torch

        # One summed-area table gives every resize; exact (integer pixels) in int32 up to ~8
        # megapixels, float64 beyond.
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        exact = cv2.CV_32S if rgb.size / 3 * 255 < 2**31 else cv2.CV_64F
        sums = cv2.integral(rgb, sdepth=exact)
        with torch.no_grad():
            boxes = self._propose(sums, min_face, max_face)
            if len(boxes):
                boxes = self._refine(sums, boxes)
            if not len(boxes):
                return NOTHING
            return self._output(sums, boxes)

    def _propose(self, sums: np.ndarray, min_face: float, max_face: float | None) -> np.ndarray:
        """P-net over the image pyramid: square candidate boxes (n, 5: box, score)."""
        h, w = sums.shape[0] - 1, sums.shape[1] - 1
        whole = np.array([[0, 0, w, h]])
        found = []
        for scale in pyramid_scales(h, w, min_face, self.factor, max_face):
            level = area_crops(sums, whole, int(h * scale + 1), int(w * scale + 1))
            reg, prob = self.pnet(_batch(level).contiguous())
            boxes = proposals(reg[0].numpy(), prob[0, 1].numpy(), scale, self.thresholds[0])
            found.append(boxes[nms(boxes, 0.5)])
        boxes = np.concatenate(found) if found else np.zeros((0, 9), np.float32)
        boxes = boxes[nms(boxes, 0.7)]
        w_, h_ = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        moved = boxes[:, :4] + boxes[:, 5:9] * np.stack([w_, h_, w_, h_], axis=1)
        return square(np.concatenate([moved, boxes[:, 4:5]], axis=1))

    def _refine(self, sums: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """R-net on each candidate's 24 px crop: the boxes it keeps, moved and squared."""
        boxes, crops = crops_of(sums, boxes, 24)
        if not len(boxes):
            return boxes
        reg, prob = self._rnet(crops)
        score = prob[:, 1]
        keep = score > self.thresholds[1]
        boxes = np.concatenate([boxes[keep, :4], score[keep, None]], axis=1)
        reg = reg[keep]
        pick = nms(boxes, 0.7)
        return square(regress(boxes[pick], reg[pick]))

    def _output(self, sums: np.ndarray, boxes: np.ndarray) -> Found:
        """O-net on each box's 48 px crop: final boxes, scores and landmarks."""
        from facenet_pytorch.models.utils.detect_face import nms_numpy

        boxes, crops = crops_of(sums, boxes, 48)
        if not len(boxes):
            return NOTHING
        reg, points, prob = self._onet(crops)
        score = prob[:, 1]
        keep = score > self.thresholds[2]
        boxes = np.concatenate([boxes[keep, :4], score[keep, None]], axis=1)
        reg, points = reg[keep], points[keep]
        w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        xs = w * points[:, :5] + boxes[:, 0:1] - 1
        ys = h * points[:, 5:10] + boxes[:, 1:2] - 1
        landmarks = np.stack([xs, ys], axis=2)
        boxes = regress(boxes, reg)
        if not len(boxes):
            return NOTHING
        pick = nms_numpy(boxes[:, :4], boxes[:, 4], 0.7, "Min")
        boxes, landmarks = boxes[pick], landmarks[pick]
        return Found(boxes[:, :4].astype(np.float64), boxes[:, 4].astype(np.float64),
                     landmarks.astype(np.float64))  # fmt: skip


def pyramid_scales(
    h: int, w: int, min_face: float, factor: float = FACTOR, max_face: float | None = None
) -> list[float]:
    """The image pyramid's scales: the first makes a `min_face` face 12 px (P-net's window),
    each next one `factor` smaller, down to a shorter side of 12 px, or, with `max_face`,
    to the last level whose 12 px window is a face no larger than that."""
    m = 12.0 / min_face
    side = min(h, w) * m
    scales = []
    scale = m
    while side >= 12 and (max_face is None or 12 / scale <= max_face):
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


def proposals(reg: np.ndarray, prob: np.ndarray, scale: float, threshold: float) -> np.ndarray:
    """P-net's cells scoring >= threshold as boxes in the image (n, 9: box, score, reg):
    each output cell sees a 12 px window with a stride of 2 in the pyramid level."""
    ys, xs = np.nonzero(prob >= threshold)
    cells = np.stack([xs, ys], axis=1).astype(np.float32)
    scale = np.float32(scale)
    q1 = np.floor((2 * cells + 1) / scale)
    q2 = np.floor((2 * cells + 12) / scale)
    return np.concatenate(
        [q1, q2, prob[ys, xs][:, None], reg[:, ys, xs].T], axis=1, dtype=np.float32
    )


def nms(boxes: np.ndarray, iou: float) -> np.ndarray:
    """Indexes of `boxes` (rows: x1 y1 x2 y2 score ...) that greedy non-maximum suppression
    keeps at `iou`, best first (torchvision's, as facenet-pytorch runs it)."""
    import torch
    from torchvision.ops import nms as torch_nms

    if not len(boxes):
        return np.zeros(0, np.int64)
    b = torch.from_numpy(np.ascontiguousarray(boxes[:, :4], dtype=np.float32))
    s = torch.from_numpy(np.ascontiguousarray(boxes[:, 4], dtype=np.float32))
    return torch_nms(b, s, iou).numpy()


def square(boxes: np.ndarray) -> np.ndarray:
    """Each box made square around its centre, on its longer side (MTCNN's `rerec`)."""
    boxes = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    boxes[:, 0] += w * 0.5 - side * 0.5
    boxes[:, 1] += h * 0.5 - side * 0.5
    boxes[:, 2] = boxes[:, 0] + side
    boxes[:, 3] = boxes[:, 1] + side
    return boxes


def regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Boxes moved by a network's regression, in units of their side (MTCNN's `bbreg`)."""
    boxes = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, :4] += reg[:, :4] * np.stack([w, h, w, h], axis=1)
    return boxes


def crops_of(sums: np.ndarray, boxes: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Each box's part of the image (`sums`: its summed-area table), cut at the image's
    edges as facenet-pytorch's `pad` does, resized to side x side: (the boxes that have
    one, their crops (n, side, side, 3))."""
    h, w = sums.shape[0] - 1, sums.shape[1] - 1
    ints = np.trunc(boxes[:, :4]).astype(np.int64)
    x = np.maximum(ints[:, 0], 1) - 1
    y = np.maximum(ints[:, 1], 1) - 1
    ex = np.minimum(ints[:, 2], w)
    ey = np.minimum(ints[:, 3], h)
    ok = (ex > x) & (ey > y)
    windows = np.stack([x, y, ex, ey], axis=1)[ok]
    return boxes[ok], area_crops(sums, windows, side, side)


def area_crops(sums: np.ndarray, boxes: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Each box's part of the image whose summed-area table (`cv2.integral`) is `sums`,
    resized to out_h x out_w as torch's `interpolate(mode="area")` does (MTCNN's own resize):
    each output pixel is the mean of the window adaptive average pooling gives it, four
    lookups in `sums`. `boxes`: (n, 4) integer x0 y0 x1 y1, ends excluded; (n, out_h, out_w, C)."""
    x0, y0, x1, y1 = (boxes[:, k : k + 1] for k in range(4))
    ys, ye = _windows(y0, y1, out_h)
    xs, xe = _windows(x0, x1, out_w)
    # Lookups by flat index (row * width + column), each a pixel's channels: numpy's fast path.
    width = sums.shape[1]
    flat = sums.reshape(-1, sums.shape[2])
    rs, re = (ys * width)[:, :, None], (ye * width)[:, :, None]
    cs, ce = xs[:, None, :], xe[:, None, :]

    def at(index: np.ndarray) -> np.ndarray:
        return np.take(flat, index, axis=0)

    total = at(re + ce) - at(rs + ce) - at(re + cs) + at(rs + cs)
    area = (ye - ys)[:, :, None] * (xe - xs)[:, None, :]
    return total.astype(np.float32) / area[..., None].astype(np.float32)


def _windows(start: np.ndarray, end: np.ndarray, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive average pooling's windows over start..end (n, 1): output i averages the
    inputs from floor(i * n / n_out) up to ceil((i + 1) * n / n_out), n = end - start."""
    i = np.arange(n_out)
    n = end - start
    return start + (i * n) // n_out, start - ((-(i + 1) * n) // n_out)


def _batch(images: np.ndarray) -> Any:
    """(N, H, W, 3) pixels 0-255 -> the networks' (N, 3, H, W) input scaled to [-1, 1],
    laid out channels-last (a view of `images`' layout)."""
    import torch

    return torch.from_numpy(_scaled(images)).permute(0, 3, 1, 2)


def _scaled(images: np.ndarray) -> np.ndarray:
    """Pixels 0-255 scaled to the networks' [-1, 1]."""
    return (images - np.float32(127.5)) * np.float32(0.0078125)


Net = Callable[[np.ndarray], list[np.ndarray]]  # (N, H, W, 3) crops 0-255 -> outputs


def _torch_net(net: Any) -> Net:
    """A refining network run by torch."""
    return lambda crops: [t.numpy() for t in net(_batch(crops))]


_converted: dict[str, Any] = {}  # OpenVINO's copy of each refining network, made once
_converting = threading.Lock()


def _openvino_net(name: str, net: Any, side: int, batch: int) -> Net:
    """A refining network run by OpenVINO, one thread, `batch` crops at a time; its input
    laid out as the crops are (N, H, W, 3), which OpenVINO turns as it reads them."""
    import openvino as ov
    import torch
    from openvino.preprocess import PrePostProcessor

    from index.models.openvino_cpu import compile_for_cpu, in_fixed_batches

    with _converting:  # one conversion per process; compiled once per detector (thread)
        if name not in _converted:
            shape = (batch, 3, side, side)
            with warnings.catch_warnings():  # OpenVINO traces torch by a deprecated way
                warnings.simplefilter("ignore", FutureWarning)
                model = ov.convert_model(net, example_input=torch.zeros(shape), input=[shape])
            steps = PrePostProcessor(model)
            steps.input().tensor().set_layout(ov.Layout("NHWC"))
            steps.input().model().set_layout(ov.Layout("NCHW"))
            _converted[name] = steps.build()
        request = compile_for_cpu(_converted[name], threads=1).create_infer_request()

    def run(part: list[np.ndarray]) -> list[np.ndarray]:
        return list(request.infer({0: part[0]}).values())

    return lambda crops: in_fixed_batches(run, [_scaled(crops)], batch)


def _ceil_max_pool(kernel: int, stride: int) -> Any:
    """MTCNN's max pooling (ceil mode, no padding) as strided maxima: the same numbers as
    torch's own, whose channels-first CPU kernel took a third of MTCNN's time."""
    import torch

    class CeilMaxPool(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return ceil_max_pool(x, kernel, stride)

    return CeilMaxPool()


def ceil_max_pool(x: Any, kernel: int, stride: int) -> Any:
    """`torch.nn.functional.max_pool2d(x, kernel, stride, ceil_mode=True)`, several times
    faster on the CPU: windows running off the edge are padded with -inf, and every window
    starts inside the input (ceil mode's rule), so padding never wins."""
    import torch
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    out_h, out_w = (_ceil_steps(side, kernel, stride) for side in (h, w))
    pad_h, pad_w = ((n - 1) * stride + kernel - side for n, side in ((out_h, h), (out_w, w)))
    if pad_h > 0 or pad_w > 0:
        x = F.pad(x, (0, max(pad_w, 0), 0, max(pad_h, 0)), value=float("-inf"))
    rows = x[..., 0 : (out_h - 1) * stride + 1 : stride, :]
    for i in range(1, kernel):
        rows = torch.maximum(rows, x[..., i : i + (out_h - 1) * stride + 1 : stride, :])
    out = rows[..., 0 : (out_w - 1) * stride + 1 : stride]
    for j in range(1, kernel):
        out = torch.maximum(out, rows[..., j : j + (out_w - 1) * stride + 1 : stride])
    return out


def _ceil_steps(side: int, kernel: int, stride: int) -> int:
    """Output length of a ceil-mode pooling window along one side (torch's rule)."""
    n = -(-(side - kernel) // stride) + 1
    return n - 1 if (n - 1) * stride >= side else n
