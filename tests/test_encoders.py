"""Exported encoder backends: cached per model, checked against torch, int8 only on proof,
and vectors of unchecked backends never sharing an index.

Tiny random models: these tests check files, numbers and decisions, never meaning.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from index.library import Library
from index.models import ClipModel, encoders
from index.models.int8 import int8_meta_key
from index.settings import Settings
from tests.tiny_models import save_tiny_open_clip

TEXTS = ["a dog on a beach", "Alice's birthday cake", ""]
INT8 = f"{encoders.int8_engine(Settings())}-int8"  # OpenVINO where installed, else ONNX Runtime


def photos(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)) for _ in range(n)]


def exported(spec: str, cache: Path, engine: str = "onnxruntime", **settings) -> ClipModel:
    model = ClipModel(
        spec, threads=1, backend=engine, cache_dir=cache, settings=Settings(**settings)
    )
    model.load()
    return model


@pytest.fixture(scope="module")
def export_cache(tmp_path_factory, tiny_clip_spec) -> Path:
    """One export of the tiny model, shared: exporting takes seconds."""
    cache = tmp_path_factory.mktemp("encoders")
    exported(tiny_clip_spec, cache)
    return cache


def copy_cache(export_cache: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "encoders"
    shutil.copytree(export_cache, dest)
    return dest


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_fp32_backends_match_torch(engine, export_cache, tmp_path, tiny_clip_spec):
    model = exported(tiny_clip_spec, copy_cache(export_cache, tmp_path), engine)
    reference = ClipModel(tiny_clip_spec, threads=1)
    assert model.image_backend == f"{engine}-fp32" and model.text_backend == f"{engine}-fp32"
    images = photos(5)
    assert encoders.min_cosine(model.encode_images(images), reference.encode_images(images)) >= (
        0.9999
    )
    assert encoders.min_cosine(model.encode_texts(TEXTS), reference.encode_texts(TEXTS)) >= 0.9999


def test_openvino_runs_the_image_tower_at_one_batch_size_whatever_the_photos(
    export_cache, tmp_path, tiny_clip_spec
):
    # OpenVINO prepares every new batch size it meets (~5 ms a photo here): each run takes
    # `clip_run_batch` photos, the last one filled up, and each photo keeps its own vector.
    model = exported(
        tiny_clip_spec, copy_cache(export_cache, tmp_path), "openvino", clip_run_batch=4
    )
    tower = model._exported.image
    sizes = []
    run = tower._run
    tower._run = lambda feed: sizes.append(len(next(iter(feed.values())))) or run(feed)
    images = photos(11)
    together = model.encode_images(images)
    assert sizes == [4, 4, 4]
    alone = np.concatenate([model.encode_images([image]) for image in images])
    assert together.shape == alone.shape == (11, model.dim)
    np.testing.assert_allclose(together, alone, atol=1e-5)
    reference = ClipModel(tiny_clip_spec, threads=1).encode_images(images)
    assert encoders.min_cosine(together, reference) >= 0.9999
    # ONNX Runtime prepares nothing per shape: it runs the photos as given.
    by_ort = exported(tiny_clip_spec, copy_cache(export_cache, tmp_path / "ort"))
    assert by_ort._exported.image.batch is None


def test_torch_weights_are_freed_once_both_towers_run_exported(
    export_cache, tmp_path, tiny_clip_spec
):
    model = exported(tiny_clip_spec, copy_cache(export_cache, tmp_path))
    assert model.image_backend == "onnxruntime-fp32" and model.text_backend == "onnxruntime-fp32"
    assert all(p.device.type == "meta" for p in model._torch.model.parameters())
    reference = ClipModel(tiny_clip_spec, threads=1)  # torch, weights in memory
    images = photos(3)
    assert encoders.min_cosine(model.encode_images(images), reference.encode_images(images)) >= (
        0.9999
    )
    assert encoders.min_cosine(model.encode_texts(TEXTS), reference.encode_texts(TEXTS)) >= 0.9999


def test_export_is_reused_from_the_cache(export_cache, tmp_path, tiny_clip_spec, monkeypatch):
    cache = copy_cache(export_cache, tmp_path)

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although the cache holds this model")

    monkeypatch.setattr(encoders, "_onnx_export", no_export)
    model = exported(tiny_clip_spec, cache)
    assert model.image_backend == "onnxruntime-fp32"
    assert len([d for d in cache.iterdir() if d.is_dir()]) == 1


def test_export_is_rebuilt_when_the_weights_change(export_cache, tmp_path):
    folder = tmp_path / "model"
    spec = save_tiny_open_clip(folder, seed=0)
    cache = tmp_path / "encoders"
    first = exported(spec, cache)
    save_tiny_open_clip(folder, seed=5)  # same spec, other weights
    second = exported(spec, cache)
    folders = sorted(d for d in cache.iterdir() if d.is_dir())
    assert len(folders) == 2  # one export per weights' hash
    images = photos(2)
    fresh = ClipModel(spec, threads=1).encode_images(images)
    assert encoders.min_cosine(second.encode_images(images), fresh) >= 0.9999
    assert encoders.min_cosine(first.encode_images(images), fresh) < 0.99  # the old weights'


def test_int8_is_used_only_after_it_passed_on_the_users_photos(
    export_cache, tmp_path, tiny_clip_spec
):
    model = exported(tiny_clip_spec, copy_cache(export_cache, tmp_path))
    assert model.needs_calibration() and model.image_backend == "onnxruntime-fp32"
    verdict = model.calibrate(torch.stack([model.preprocess(p) for p in photos(8)]))
    assert verdict.passed and verdict.min_cosine >= 0.99 and verdict.photos == 8
    # Static quantisation, calibrated on the photos, is the first choice and held here.
    assert verdict.method == "static" and verdict.tried["static"] >= 0.99
    assert "static int8 kept" in verdict.reason
    assert model.image_backend == INT8 and not model.needs_calibration()
    again = exported(tiny_clip_spec, model.cache_dir)  # the verdict is remembered
    assert again.image_backend == INT8 and not again.needs_calibration()


def test_with_int8_passed_the_fp32_image_tower_takes_no_memory(
    export_cache, tmp_path, tiny_clip_spec, monkeypatch
):
    model = exported(tiny_clip_spec, copy_cache(export_cache, tmp_path))
    model.calibrate(torch.stack([model.preprocess(p) for p in photos(8)]))
    assert model.image_backend == INT8
    assert model._exported._image_fp32 is None  # freed once int8 took over
    # Nor is the int8 tower opened beside torch's weights while loading: once they are let go.
    opened = []
    tower = encoders.ExportedClip._image_tower

    def opening(exported, engine, path):
        opened.append(all(p.device.type == "meta" for p in again._torch.model.parameters()))
        return tower(exported, engine, path)

    monkeypatch.setattr(encoders.ExportedClip, "_image_tower", opening)
    again = ClipModel(
        tiny_clip_spec,
        threads=1,
        backend="onnxruntime",
        cache_dir=model.cache_dir,
        settings=Settings(),
    )
    again.load()
    assert again.image_backend == INT8 and again._exported._image_fp32 is None
    assert opened == [True] and again._exported._image is not None
    # Still there when asked (a new check against fp32), started on first use.
    pixels = torch.stack([again.preprocess(p) for p in photos(2)]).numpy()
    assert again._exported.image_fp32(pixels).shape[0] == 2


def test_a_released_image_tower_opens_again_at_the_next_image(
    export_cache, tmp_path, tiny_clip_spec
):
    # Before a words pass the library lets go of the image tower (index/library.py); the
    # text tower stays for searches, and the next image opens the same tower again.
    model = exported(tiny_clip_spec, copy_cache(export_cache, tmp_path))
    model.calibrate(torch.stack([model.preprocess(p) for p in photos(8)]))
    images = photos(3)
    before = model.encode_images(images)
    model.release_image_tower()
    assert model._exported._image is None and model._exported.text is not None
    assert model.image_backend == INT8 and INT8 in model.name  # told without opening it
    assert model._exported._image is None
    assert encoders.min_cosine(model.encode_images(images), before) >= 0.9999
    assert model._exported._image is not None and model.image_backend == INT8


def test_the_static_int8_tower_keeps_the_sensitive_layers_in_fp32(export_cache, tmp_path):
    import onnx

    fp32 = next(export_cache.glob("*/image.onnx"))
    dest = tmp_path / "image.int8.onnx"
    pixels = np.random.default_rng(0).normal(size=(4, 3, 224, 224)).astype(np.float32)
    encoders.quantise_static(fp32, dest, pixels)
    before = onnx.load(str(fp32)).graph
    weights = {i.name for i in before.initializer}
    weighted = [
        n.name for n in before.node if n.op_type in ("MatMul", "Gemm") and n.input[1] in weights
    ]
    after = onnx.load(str(dest)).graph
    producer = {out: n.op_type for n in after.node for out in n.output}
    node = {n.name: n for n in after.node}

    def from_int8(name: str, i: int) -> bool:
        return producer.get(node[name].input[i]) == "DequantizeLinear"

    # Every product with a weight matrix reads int8 weights, except the last (the projection).
    assert len(weighted) > 2 and all(from_int8(name, 1) for name in weighted[:-1])
    assert not from_int8(weighted[-1], 1)
    # Attention's products of two activations (scores, weighted values) and the softmax
    # between them stay fp32 operations: no output of theirs is quantised.
    both_activations = [
        n.name
        for n in before.node
        if n.op_type == "MatMul" and not {n.input[0], n.input[1]} & weights
    ]
    fp32_ops = [out for name in both_activations for out in node[name].output] + [
        out for n in after.node if n.op_type == "Softmax" for out in n.output
    ]
    quantised = {n.input[0] for n in after.node if n.op_type == "QuantizeLinear"}
    assert len(fp32_ops) >= 6 and not quantised & set(fp32_ops)


def damage(int8_model: Path) -> None:
    """Scramble the quantised weights, as a broken quantiser or a bad kernel would."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(int8_model))
    rng = np.random.default_rng(0)
    for init in graph.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.int8 and arr.size > 64:
            noisy = rng.integers(-127, 128, arr.shape).astype(np.int8)
            init.CopyFrom(numpy_helper.from_array(noisy, init.name))
    onnx.save(graph, str(int8_model))


def damaging(quantise):
    """A quantiser whose towers come out broken."""

    def broken(fp32: Path, dest: Path, pixels: np.ndarray) -> None:
        quantise(fp32, dest, pixels)
        damage(dest)

    return broken


def test_drifting_int8_falls_back_to_fp32_and_says_so_once(
    export_cache, tmp_path, tiny_clip_spec, monkeypatch
):
    cache = copy_cache(export_cache, tmp_path)
    monkeypatch.setattr(
        encoders,
        "QUANTISERS",
        {name: damaging(q) for name, q in encoders.QUANTISERS.items()},
    )
    model = exported(tiny_clip_spec, cache)
    verdict = model.calibrate(torch.stack([model.preprocess(p) for p in photos(8)]))
    assert not verdict.passed and verdict.min_cosine < 0.99 and verdict.method is None
    assert set(verdict.tried) == {"static", "dynamic"}  # both were tried, both drifted
    assert verdict.reason.startswith("fp32 kept")
    assert model.image_backend == "onnxruntime-fp32"
    assert not (model._exported.folder / encoders.INT8_FILE).exists()
    assert len(model.notes) == 1 and "drifted" in model.notes[0]
    later = exported(tiny_clip_spec, cache)
    assert later.image_backend == "onnxruntime-fp32" and not later.needs_calibration()
    assert later.notes == []  # said once, not at every start


def test_when_static_int8_drifts_dynamic_int8_is_tried_next(
    export_cache, tmp_path, tiny_clip_spec, monkeypatch
):
    cache = copy_cache(export_cache, tmp_path)
    quantisers = dict(encoders.QUANTISERS)
    quantisers["static"] = damaging(quantisers["static"])
    monkeypatch.setattr(encoders, "QUANTISERS", quantisers)
    model = exported(tiny_clip_spec, cache)
    verdict = model.calibrate(torch.stack([model.preprocess(p) for p in photos(8)]))
    assert verdict.passed and verdict.method == "dynamic"
    assert verdict.tried["static"] < 0.99 <= verdict.tried["dynamic"]
    assert model.image_backend == INT8


def test_int8_is_checked_again_when_another_engine_is_to_run_it(
    export_cache, tmp_path, tiny_clip_spec
):
    cache = copy_cache(export_cache, tmp_path)
    pixels = torch.stack([ClipModel(tiny_clip_spec).preprocess(p) for p in photos(8)])
    by_ort = exported(tiny_clip_spec, cache, clip_int8_engine="onnxruntime")
    assert by_ort.calibrate(pixels).engine == "onnxruntime"
    assert by_ort.image_backend == "onnxruntime-int8"
    by_openvino = exported(tiny_clip_spec, cache, clip_int8_engine="openvino")
    # Checked as ONNX Runtime ran it: not trusted as OpenVINO runs it until checked so.
    assert by_openvino.needs_calibration() and by_openvino.image_backend == "onnxruntime-fp32"
    verdict = by_openvino.calibrate(pixels)
    assert verdict.passed and verdict.engine == "openvino" and "openvino runs it" in verdict.reason
    assert by_openvino.image_backend == "openvino-int8"
    both = by_ort.encode_preprocessed(pixels[:4]), by_openvino.encode_preprocessed(pixels[:4])
    assert encoders.min_cosine(*both) >= 0.99  # one tower, two engines, the same vectors


def test_a_stricter_threshold_asks_again(export_cache, tmp_path, tiny_clip_spec):
    cache = copy_cache(export_cache, tmp_path)
    model = exported(tiny_clip_spec, cache)
    model.calibrate(torch.stack([model.preprocess(p) for p in photos(4)]))
    strict = exported(tiny_clip_spec, cache, clip_int8_min_cosine=0.999999)
    assert strict.needs_calibration() and strict.image_backend == "onnxruntime-fp32"


def exported_library(tmp_path: Path, spec: str, cache: Path, n: int, **settings) -> Library:
    """A library on `n` photos (in tmp_path/photos, not indexed yet) whose encoders are
    already exported (a copy of `cache`), run by ONNX Runtime two photos a batch."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, im in enumerate(photos(n)):
        im.save(folder / f"p{i}.jpg")
    shutil.copytree(cache, tmp_path / "data" / "encoders")
    settings = Settings(clip_backend="onnxruntime", model_batch=2, **settings)
    return Library(tmp_path / "data", clip=spec, settings=settings, faces=False)


def test_int8_is_checked_while_indexing_the_first_photos(tmp_path, tiny_clip_spec, export_cache):
    lib = exported_library(tmp_path, tiny_clip_spec, export_cache, 6, clip_calibration_photos=4)
    lib.index(tmp_path / "photos")
    assert lib.catalog.meta(int8_meta_key(lib.clip.spec)) == "passed@0.99"
    made = lib.catalog.vector_backends(lib.clip.spec)
    # The batch before the verdict got fp32 vectors; from the 4th photo on it was settled
    # (checked before that batch ran), so the rest are int8. All share one index.
    assert made == {"onnxruntime-fp32": 2, INT8: 4}
    assert len(lib.image_index(fresh=True)) == 6
    # `stats` says which encoder runs and why.
    encoder = lib.stats()["clip_encoder"]
    assert encoder["int8"] == "passed@0.99" and encoder["why"].startswith("static int8 kept")


def test_int8_waits_for_enough_photos_to_be_checked_on(tmp_path, tiny_clip_spec, export_cache):
    lib = exported_library(tmp_path, tiny_clip_spec, export_cache, 3, clip_calibration_min_photos=4)
    folder = tmp_path / "photos"
    lib.index(folder)  # 3 photos: too few to judge int8 on, so fp32 made them all
    assert lib.catalog.meta(int8_meta_key(lib.clip.spec)) is None
    assert lib.catalog.vector_backends(lib.clip.spec) == {"onnxruntime-fp32": 3}
    assert lib.clip.needs_calibration()
    for i, im in enumerate(photos(5)):
        im.rotate(90).save(folder / f"q{i}.jpg")
    lib.index(folder)  # 5 new photos: enough, checked on them
    assert lib.catalog.meta(int8_meta_key(lib.clip.spec)) == "passed@0.99"


def test_vectors_of_an_unchecked_backend_never_join_the_index(tmp_path, tiny_clip_spec):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, im in enumerate(photos(4)):
        im.save(folder / f"p{i}.jpg")
    lib = Library(tmp_path / "data", clip=tiny_clip_spec, settings=Settings(clip_backend="torch"))
    lib.index(folder)
    spec = lib.clip.spec
    ids, vecs = lib.catalog.image_vectors(spec)
    with lib.catalog.transaction():  # two photos carry int8 vectors whose check failed
        for pid, vec in zip(ids[:2], vecs[:2], strict=True):
            lib.catalog.put_image_vector(int(pid), spec, vec, "onnxruntime-int8")
        lib.catalog.set_meta(int8_meta_key(spec), "failed@0.99")
        lib.catalog.bump_generation("images")
    assert len(lib.image_index(fresh=True)) == 2  # only the torch vectors
    lib.index(folder)  # the unmatched ones are made again, by a backend that matches
    assert lib.catalog.vector_backends(spec) == {"torch": 4}
    assert len(lib.image_index(fresh=True)) == 4
