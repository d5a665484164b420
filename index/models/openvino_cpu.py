"""OpenVINO on the CPU: how the project compiles its networks, and runs some at one batch size.

Every network is compiled in fp32 and not pinned to cores (`compile_for_cpu`).

OpenVINO prepares every input shape it meets for the first time: CLIP's image tower paid
~5 ms a photo for each new batch size (ViT-B-32 int8), and MTCNN's R-net, whose batch is
the number of candidate boxes in a photo, paid it at almost every call. A model reshaped
to one static batch pays nothing after compiling (`in_fixed_batches`): the inputs are cut
into runs of that many rows, the last run filled up with copies of its own last row (which
leaves the ranges of a dynamically quantised network as they were), and the copies'
outputs dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Arrays = Sequence[np.ndarray]


def in_fixed_batches(run: Callable[[list[np.ndarray]], Arrays], arrays: Arrays, batch: int):
    """`run`'s outputs for all rows of `arrays` (the inputs, same rows each), calling it on
    exactly `batch` rows at a time: one concatenated array per output."""
    runs: list[list[np.ndarray]] = []
    for start in range(0, len(arrays[0]), batch):
        part = [a[start : start + batch] for a in arrays]
        rows = len(part[0])
        if rows < batch:
            part = [np.concatenate([a, np.repeat(a[-1:], batch - rows, axis=0)]) for a in part]
        runs.append([np.asarray(out)[:rows] for out in run(part)])
    return [np.concatenate(outputs) for outputs in zip(*runs, strict=True)]


def compile_for_cpu(model: Any, threads: int, batch: int | None = None, **config: Any) -> Any:
    """An OpenVINO model (or the path of an ONNX file) compiled for the CPU in fp32, its
    first input's batch fixed at `batch` when given; `threads` 0: OpenVINO's choice; `config`:
    more of OpenVINO's properties."""
    import openvino as ov

    core = ov.Core()
    if not isinstance(model, ov.Model):
        model = core.read_model(str(model))
    if batch:
        shape = model.input(0).get_partial_shape()
        shape[0] = batch
        model.reshape({model.input(0): shape})
    # f32 asked for: on CPUs with bf16 units OpenVINO would otherwise compute in bf16, other
    # numbers. Not pinned to cores: pinned, two decode workers' networks (one thread each)
    # took turns on one core instead of running side by side (measured on R-net).
    config = {
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "ENABLE_CPU_PINNING": False,
        **({"INFERENCE_NUM_THREADS": threads} if threads else {}),
        **config,
    }
    return core.compile_model(model, "CPU", config)
