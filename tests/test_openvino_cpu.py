"""OpenVINO on the CPU: networks compiled alike, and run at one batch size whatever the inputs."""

from __future__ import annotations

import numpy as np
import pytest

from index.models.openvino_cpu import compile_for_cpu, in_fixed_batches

ov = pytest.importorskip("openvino")


def test_inputs_run_at_one_batch_size_the_last_run_filled_with_its_own_last_row():
    seen = []

    def run(part):
        seen.append([a.copy() for a in part])
        x, y = part
        return [x.sum(axis=1), x[:, :1] * y]

    x = np.arange(22, dtype=np.float32).reshape(11, 2)
    y = np.arange(11, dtype=np.float32)[:, None]
    total, product = in_fixed_batches(run, [x, y], 4)
    assert [len(part[0]) for part in seen] == [4, 4, 4]
    np.testing.assert_array_equal(seen[-1][0], x[[8, 9, 10, 10]])  # copies of the last row
    np.testing.assert_array_equal(total, x.sum(axis=1))  # the copies' outputs are dropped
    np.testing.assert_array_equal(product, x[:, :1] * y)


def test_networks_are_compiled_in_fp32_unpinned_and_at_the_batch_asked():
    # Pinned (OpenVINO's default), two decode workers' one-thread networks took turns on one
    # core instead of running side by side.
    from openvino import opset13 as ops

    pixels = ops.parameter([-1, 3], np.float32, name="pixels")
    model = ov.Model([ops.relu(pixels)], [pixels], "tiny")
    compiled = compile_for_cpu(model, threads=1, batch=8)
    assert compiled.get_property("ENABLE_CPU_PINNING") is False
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    assert compiled.get_property("INFERENCE_NUM_THREADS") == 1
    assert list(compiled.input(0).get_shape()) == [8, 3]
    out = compiled.create_infer_request().infer({0: -np.ones((8, 3), np.float32)})[0]
    assert (out == 0).all()
