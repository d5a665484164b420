"""dlib's face-vector network (dlib_face_recognition_resnet_model_v1) run by torch.

The same weights, read from the same file in the face_recognition_models wheel, and the
same arithmetic as dlib's own `compute_face_descriptor` (its vectors to ~1e-6): dlib's
build here has no BLAS, so its network took ~110 ms of one core per face, holding Python's
global lock all along (the other decode worker stood still); torch takes ~13 ms and lets
go of the lock. dlib still finds the 5 landmarks and cuts the 150 px aligned chip.

The file is dlib's own serialization: layers from the input up, each a name (a length and
bytes) followed by its parameters; integers in dlib's compact form (a byte holding the
length and the sign, then little-endian bytes), scalar floats as mantissa and exponent,
tensors as a version, four dimensions and raw little-endian float32s.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

# The network (dlib's `anet_type`): a 7x7/2 convolution and a 3x3/2 max pool, then residual
# blocks (input channels, output channels, stride), an average over the picture, a 256 ->
# 128 product without bias.
BLOCKS = (
    [(32, 32, 1)] * 3
    + [(32, 64, 2)]
    + [(64, 64, 1)] * 3
    + [(64, 128, 2)]
    + [(128, 128, 1)] * 2
    + [(128, 256, 2)]
    + [(256, 256, 1)] * 2
    + [(256, 256, 2)]
)
CHIP = 150  # px: the aligned face the network reads
CHIP_PADDING = 0.25  # dlib's default room around the landmarks

_LAYER = re.compile(rb"\x01([\x04-\x15])(con_[0-9]|affine_|fc_[0-9]|input_rgb_image_sized)")


class DlibFormatError(ValueError):
    """The weights file is not laid out as this reader expects."""


def read_weights(path: str) -> list[tuple[str, np.ndarray]]:
    """(kind, values) for each layer with parameters, input first: "input" (the mean red,
    green, blue), "con" (filters then biases), "aff" (scales then shifts), "fc"."""
    data = Path(path).read_bytes()

    def integer(p: int) -> tuple[int, int]:
        head = data[p]
        n = head & 0x0F
        value = int.from_bytes(data[p + 1 : p + 1 + n], "little")
        return (-value if head & 0x80 else value), p + 1 + n

    def scalar(p: int) -> tuple[float, int]:
        mantissa, p = integer(p)
        exponent, p = integer(p)
        return mantissa * 2.0**exponent, p

    def tensor(p: int) -> np.ndarray:
        version, p = integer(p)
        if version != 2:
            raise DlibFormatError(f"tensor version {version} at byte {p}")
        size = 1
        for _ in range(4):
            dim, p = integer(p)
            size *= dim
        if p + 4 * size > len(data):
            raise DlibFormatError(f"a tensor of {size} floats runs past the end at byte {p}")
        return np.frombuffer(data, "<f4", size, p).astype(np.float32)

    layers: list[tuple[str, np.ndarray]] = []
    for m in _LAYER.finditer(data):
        if m.group(1)[0] != len(m.group(2)):
            continue  # the bytes of a name inside some tensor's floats
        name, p = m.group(2).decode(), m.end()
        if name.startswith("input"):
            means = []
            for _ in range(3):
                value, p = scalar(p)
                means.append(value)
            layers.append(("input", np.array(means, np.float32)))
        elif name.startswith("fc_"):
            _, p = integer(p)  # outputs
            _, p = integer(p)  # inputs
            layers.append(("fc", tensor(p)))
        else:
            layers.append((name[:3], tensor(p)))
    return layers


class DlibResNet:
    """The network with dlib's weights: `vectors(chips)` for (N, 150, 150, 3) RGB chips."""

    def __init__(self, path: str):
        import torch

        layers = iter(read_weights(path))

        def take(kind: str) -> np.ndarray:
            got, values = next(layers, ("nothing", None))
            if got != kind or values is None:
                raise DlibFormatError(f"expected a {kind} layer, found {got}")
            return values

        def conv(c_in: int, c_out: int, k: int) -> tuple[Any, Any]:
            values = take("con")
            n = c_out * c_in * k * k
            if len(values) != n + c_out:
                raise DlibFormatError(f"a {c_in}->{c_out} {k}x{k} convolution of {len(values)}")
            return (torch.from_numpy(values[:n].reshape(c_out, c_in, k, k)),
                    torch.from_numpy(values[n:]))  # fmt: skip

        def affine(c: int) -> tuple[Any, Any]:
            values = take("aff")
            if len(values) != 2 * c:
                raise DlibFormatError(f"an affine layer of {c} channels holds {len(values)}")
            return (torch.from_numpy(values[:c]).view(1, c, 1, 1),
                    torch.from_numpy(values[c:]).view(1, c, 1, 1))  # fmt: skip

        self.means = torch.from_numpy(take("input")).view(1, 3, 1, 1)
        self.stem = (conv(3, 32, 7), affine(32))
        self.blocks = [
            (stride, conv(c_in, c_out, 3), affine(c_out), conv(c_out, c_out, 3), affine(c_out))
            for c_in, c_out, stride in BLOCKS
        ]
        fc = take("fc")
        if len(fc) != 256 * 128:
            raise DlibFormatError(f"the last layer holds {len(fc)} weights, not 256 x 128")
        self.fc = torch.from_numpy(fc.reshape(256, 128))
        if next(layers, None) is not None:
            raise DlibFormatError("more layers than dlib's face network has")

    def nbytes(self) -> int:
        """Bytes of its weights."""
        tensors = [self.means, self.fc, *self.stem[0], *self.stem[1]]
        for _, *parts in self.blocks:
            tensors += [t for pair in parts for t in pair]
        return sum(t.numel() * t.element_size() for t in tensors)

    def vectors(self, chips: np.ndarray) -> np.ndarray:
        """128-d face vectors (float32) of aligned face chips, as dlib computes them."""
        import torch
        import torch.nn.functional as F

        with torch.no_grad():
            x = torch.from_numpy(np.asarray(chips, np.float32)).permute(0, 3, 1, 2)
            x = (x - self.means) / 256
            (w, b), (scale, shift) = self.stem
            x = F.max_pool2d(F.relu(F.conv2d(x, w, b, stride=2) * scale + shift), 3, 2)
            for stride, (w1, b1), (s1, t1), (w2, b2), (s2, t2) in self.blocks:
                # dlib pads a 3x3 convolution by 1 at stride 1, not at all at stride 2.
                y = F.conv2d(x, w1, b1, stride=stride, padding=1 if stride == 1 else 0)
                y = F.conv2d(F.relu(y * s1 + t1), w2, b2, padding=1) * s2 + t2
                if stride == 2:
                    x = F.avg_pool2d(x, 2, 2)
                x = F.relu(_add(x, y))
            return (x.mean((2, 3)) @ self.fc).numpy()


def _add(a: Any, b: Any) -> Any:
    """dlib's add_prev: the sum over the larger of each dimension, the smaller input padded
    with zeros (more channels after a down-sampling block; 4x4 + 3x3 near the end)."""
    import torch.nn.functional as F

    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def grown(t: Any) -> Any:
        pads = (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1])
        return F.pad(t, pads) if any(pads) else t

    return grown(a) + grown(b)
