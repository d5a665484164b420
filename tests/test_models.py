"""CLIP encoders: spec parsing, lazy and fast-failing loading, vector plumbing, reference parity.

The models here have random weights: these tests check shapes, files, errors and that our
pipeline computes exactly what the reference libraries compute, never what a vector means.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from index.errors import InvalidInput, ModelUnavailable
from index.models import HF, LOCAL_DIR, OPEN_CLIP, ClipModel, parse_clip_spec
from index.settings import DEFAULT_CLIP

REPO = Path(__file__).resolve().parents[1]
TEXTS = ["a dog on a beach", "Alice's birthday cake", "", "x" * 500]  # empty and overlong too


def sample_images() -> list[Image.Image]:
    """Different sizes, aspect ratios and modes, as a photo library has them."""
    rng = np.random.default_rng(7)

    def noise(w: int, h: int, mode: str = "RGB") -> Image.Image:
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        return Image.fromarray(pixels).convert(mode)

    return [
        noise(640, 480),  # landscape
        noise(300, 900),  # tall portrait
        noise(224, 224),  # already the model's size
        noise(23, 41),  # smaller than the model input: upscaled
        noise(500, 333, "L"),  # greyscale
        noise(320, 200, "RGBA"),  # with alpha
        noise(250, 250, "P"),  # palette
    ]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter at the repo root, so imports and caches start cold."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def tiny_clip(tiny_clip_spec: str) -> ClipModel:
    model = ClipModel(tiny_clip_spec, threads=1)
    model.load()
    return model


@pytest.fixture(scope="module")
def tiny_hf_clip(tiny_hf_clip_spec: str) -> ClipModel:
    model = ClipModel(tiny_hf_clip_spec, threads=1)
    model.load()
    return model


@pytest.fixture()
def tiny_clip_copy(tiny_clip_spec: str, tmp_path: Path) -> Path:
    """A private copy of the tiny open_clip folder, for tests that damage it."""
    folder = tmp_path / "model"
    shutil.copytree(tiny_clip_spec.removeprefix("local-dir:"), folder)
    return folder


# --- specs -------------------------------------------------------------------------------------


def test_default_spec_is_an_open_clip_architecture_and_tag():
    spec = parse_clip_spec(DEFAULT_CLIP)
    assert (spec.kind, spec.name, spec.pretrained, spec.path) == (
        OPEN_CLIP,
        "ViT-B-32",
        "laion2b_s34b_b79k",
        None,
    )
    assert str(spec) == "ViT-B-32/laion2b_s34b_b79k"


def test_colon_and_slash_forms_name_the_same_model():
    assert str(parse_clip_spec(" ViT-B-32:laion2b_s34b_b79k ")) == DEFAULT_CLIP


def test_open_clip_hub_repo_spec_is_kept_whole():
    spec = parse_clip_spec("hf-hub:timm/ViT-B-16-SigLIP")
    assert (spec.kind, str(spec)) == (OPEN_CLIP, "hf-hub:timm/ViT-B-16-SigLIP")


def test_local_dir_spec_is_recorded_as_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = parse_clip_spec("local-dir:./models/tiny")
    assert spec.kind == LOCAL_DIR
    assert spec.path == tmp_path.resolve() / "models" / "tiny"
    assert str(spec) == f"local-dir:{tmp_path.resolve() / 'models' / 'tiny'}"


def test_hf_spec_takes_a_hub_id_or_a_folder(tmp_path):
    hub = parse_clip_spec("hf:jinaai/jina-clip-v2")
    assert (hub.kind, hub.name, hub.path, str(hub)) == (
        HF,
        "jinaai/jina-clip-v2",
        None,
        "hf:jinaai/jina-clip-v2",
    )
    folder = parse_clip_spec(f"hf:{tmp_path}")
    assert (folder.kind, folder.path, str(folder)) == (HF, tmp_path, f"hf:{tmp_path}")


def test_plain_folder_path_is_recognised_by_its_files(tmp_path):
    (tmp_path / "oc").mkdir()
    (tmp_path / "oc" / "open_clip_config.json").write_text("{}")
    (tmp_path / "tf").mkdir()
    (tmp_path / "tf" / "config.json").write_text("{}")
    assert parse_clip_spec(str(tmp_path / "oc")).kind == LOCAL_DIR
    assert parse_clip_spec(str(tmp_path / "tf")).kind == HF


@pytest.mark.parametrize(
    "text",
    [
        DEFAULT_CLIP,
        "hf-hub:timm/ViT-B-16-SigLIP",
        "hf:openai/clip-vit-base-patch32",
        "local-dir:/m",
    ],
)
def test_canonical_spec_parses_back_to_itself(text):
    spec = parse_clip_spec(text)
    assert parse_clip_spec(str(spec)) == spec


def test_architecture_without_weights_tag_is_refused_with_an_example():
    with pytest.raises(InvalidInput, match="ViT-B-32/laion2b_s34b_b79k"):
        parse_clip_spec("ViT-B-32")


@pytest.mark.parametrize("text", ["", "   ", "hf:", "local-dir:"])
def test_empty_spec_is_refused(text):
    with pytest.raises(InvalidInput):
        parse_clip_spec(text)


# --- loading -----------------------------------------------------------------------------------


def test_constructing_a_model_imports_and_loads_nothing():
    result = run_python(
        "import sys\n"
        "from index.models import ClipModel\n"
        "m = ClipModel()\n"
        "heavy = [n for n in ('torch', 'open_clip', 'transformers') if n in sys.modules]\n"
        "print(heavy, repr(m))\n"
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip()
        == "[] ClipModel('ViT-B-32/laion2b_s34b_b79k', device='cpu', not loaded)"
    )


def test_offline_default_model_fails_in_under_two_seconds_saying_how_to_get_it(tmp_path):
    # A fresh interpreter with an empty Hugging Face cache: the state of a new offline machine.
    result = run_python(
        "import json, time\n"
        "from index.models import ClipModel\n"
        "from index.errors import ModelUnavailable\n"
        "model = ClipModel()\n"
        "start = time.perf_counter()\n"
        "try:\n"
        "    model.load()\n"
        "except ModelUnavailable as err:\n"
        "    print(json.dumps({'seconds': time.perf_counter() - start, 'message': str(err)}))\n",
        HF_HUB_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf"),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["seconds"] < 2.0
    message = report["message"]
    for needed in (
        "ViT-B-32",
        "laion2b_s34b_b79k",
        "HF_HUB_OFFLINE",
        "open_clip.create_model_and_transforms('ViT-B-32', pretrained='laion2b_s34b_b79k')",
        "hf download laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
        "local-dir:",
    ):
        assert needed in message


def test_unreachable_hub_fails_fast_even_without_hf_hub_offline(tmp_path, monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise OSError(-2, "Name or service not known")

    import index.models.checks

    # As on a machine with no network where nobody set HF_HUB_OFFLINE.
    monkeypatch.setattr(index.models.checks, "offline", lambda: None)
    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(ModelUnavailable, match="cannot be reached") as err:
        ClipModel().load()
    assert "local-dir:" in str(err.value)


def test_offline_transformers_hub_model_names_the_download_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = ClipModel("hf:jinaai/jina-clip-v2")
    with pytest.raises(ModelUnavailable) as err:
        model.load()
    assert "hf:jinaai/jina-clip-v2" in str(err.value)
    assert "hf download jinaai/jina-clip-v2" in str(err.value)
    assert "trust_remote_code=True" in str(err.value)


def test_damaged_weights_in_the_hub_cache_are_reported_not_redownloaded(tmp_path):
    snapshot = tmp_path / "hub" / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
    (snapshot / "refs").mkdir(parents=True)
    (snapshot / "refs" / "main").write_text("abc123")
    (snapshot / "snapshots" / "abc123").mkdir(parents=True)
    (snapshot / "snapshots" / "abc123" / "open_clip_model.safetensors").write_bytes(b"\0" * 100)
    result = run_python(
        "from index.models import ClipModel\n"
        "from index.errors import ModelUnavailable\n"
        "try:\n"
        "    ClipModel().load()\n"
        "except ModelUnavailable as err:\n"
        "    print(err)\n",
        HF_HUB_OFFLINE="1",
        HF_HUB_CACHE=str(tmp_path / "hub"),
    )
    assert "open_clip_model.safetensors is damaged" in result.stdout, result.stderr


def test_unavailable_model_is_reported_by_is_available_without_raising(tmp_path):
    model = ClipModel(f"local-dir:{tmp_path / 'missing'}")
    assert model.load_error is None
    assert model.is_available() is False
    assert "does not exist" in model.load_error
    assert model.is_available() is False  # the answer is remembered
    with pytest.raises(ModelUnavailable, match="does not exist"):
        model.encode_texts(["a dog"])


def test_missing_folder_names_the_path(tmp_path):
    with pytest.raises(ModelUnavailable) as err:
        ClipModel(f"local-dir:{tmp_path / 'nowhere'}").load()
    assert str(tmp_path / "nowhere") in str(err.value)
    assert "does not exist" in str(err.value)


def test_transformers_folder_given_as_local_dir_points_to_hf(tiny_hf_clip_spec):
    folder = tiny_hf_clip_spec.removeprefix("hf:")
    with pytest.raises(ModelUnavailable, match=f"hf:{folder}"):
        ClipModel(f"local-dir:{folder}").load()


def test_open_clip_folder_given_as_hf_points_to_local_dir(tiny_clip_spec):
    folder = tiny_clip_spec.removeprefix("local-dir:")
    with pytest.raises(ModelUnavailable, match=f"local-dir:{folder}"):
        ClipModel(f"hf:{folder}").load()


def test_folder_without_weights_is_refused_rather_than_randomly_initialised(tiny_clip_copy):
    (tiny_clip_copy / "open_clip_model.safetensors").unlink()
    with pytest.raises(ModelUnavailable, match="no weights"):
        ClipModel(f"local-dir:{tiny_clip_copy}").load()


def test_truncated_weights_file_is_reported_as_damaged(tiny_clip_copy):
    weights = tiny_clip_copy / "open_clip_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(ModelUnavailable) as err:
        ClipModel(f"local-dir:{tiny_clip_copy}").load()
    assert "damaged" in str(err.value) and str(weights) in str(err.value)


def test_garbage_weights_file_is_reported_as_damaged(tiny_clip_copy):
    (tiny_clip_copy / "open_clip_model.safetensors").write_bytes(b"<html>not found</html>")
    with pytest.raises(ModelUnavailable, match="damaged"):
        ClipModel(f"local-dir:{tiny_clip_copy}").load()


def test_weights_that_do_not_fit_the_config_are_a_clear_load_error(tiny_clip_copy):
    config_file = tiny_clip_copy / "open_clip_config.json"
    config = json.loads(config_file.read_text())
    config["model_cfg"]["embed_dim"] = 48
    config_file.write_text(json.dumps(config))
    with pytest.raises(ModelUnavailable, match="Could not load the CLIP model local-dir:"):
        ClipModel(f"local-dir:{tiny_clip_copy}").load()


def test_transformers_folder_without_weights_is_refused(tiny_hf_clip_spec, tmp_path):
    folder = tmp_path / "hf"
    shutil.copytree(tiny_hf_clip_spec.removeprefix("hf:"), folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelUnavailable, match="no weights"):
        ClipModel(f"hf:{folder}").load()


def test_unknown_pretrained_tag_lists_the_known_tags():
    with pytest.raises(ModelUnavailable) as err:
        ClipModel("ViT-B-32/laion5b_nonsense").load()
    assert "laion5b_nonsense" in str(err.value) and "laion2b_s34b_b79k" in str(err.value)


def test_hub_id_without_hf_prefix_suggests_the_hf_form():
    with pytest.raises(ModelUnavailable, match="hf:openai/clip-vit-base-patch32"):
        ClipModel("openai/clip-vit-base-patch32").load()


def test_load_sets_torch_threads_as_asked(tiny_clip_spec):
    before = torch.get_num_threads()
    try:
        ClipModel(tiny_clip_spec, threads=1).load()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


# --- vectors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["tiny_clip", "tiny_hf_clip"])
def test_vectors_are_float32_unit_rows_of_the_model_dim(which, request):
    model: ClipModel = request.getfixturevalue(which)
    images, texts = model.encode_images(sample_images()), model.encode_texts(TEXTS)
    assert model.dim == {"tiny_clip": 32, "tiny_hf_clip": 24}[which]
    for vectors, n in ((images, len(sample_images())), (texts, len(TEXTS))):
        assert vectors.shape == (n, model.dim)
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("which", ["tiny_clip", "tiny_hf_clip"])
def test_empty_input_gives_an_empty_matrix(which, request):
    model: ClipModel = request.getfixturevalue(which)
    assert model.encode_images([]).shape == (0, model.dim)
    assert model.encode_texts([]).shape == (0, model.dim)


def test_encoding_is_deterministic_and_independent_of_batch(tiny_clip):
    images = sample_images()
    batch = tiny_clip.encode_images(images)
    np.testing.assert_array_equal(batch, tiny_clip.encode_images(images))
    alone = np.vstack([tiny_clip.encode_images([im]) for im in images])
    np.testing.assert_allclose(alone, batch, atol=1e-5)
    texts = tiny_clip.encode_texts(TEXTS)
    np.testing.assert_array_equal(texts, tiny_clip.encode_texts(TEXTS))


def test_preprocess_then_encode_equals_encode_images(tiny_clip):
    images = sample_images()
    tensors = [tiny_clip.preprocess(im) for im in images]
    assert all(t.shape == (3, 224, 224) for t in tensors)
    np.testing.assert_array_equal(
        tiny_clip.encode_preprocessed(torch.stack(tensors)), tiny_clip.encode_images(images)
    )
    np.testing.assert_array_equal(
        tiny_clip.encode_preprocessed(tensors[0]), tiny_clip.encode_images(images[:1])
    )


def test_open_clip_vectors_equal_the_open_clip_reference_pipeline(tiny_clip, tiny_clip_spec):
    import open_clip

    ref, _, ref_preprocess = open_clip.create_model_and_transforms(tiny_clip_spec)
    ref.eval()
    tokenizer = open_clip.get_tokenizer(tiny_clip_spec)
    images = sample_images()
    with torch.no_grad():
        ref_images = ref.encode_image(torch.stack([ref_preprocess(im) for im in images]), True)
        ref_texts = ref.encode_text(tokenizer(TEXTS), normalize=True)
    np.testing.assert_allclose(tiny_clip.encode_images(images), ref_images.numpy(), atol=1e-5)
    np.testing.assert_allclose(tiny_clip.encode_texts(TEXTS), ref_texts.numpy(), atol=1e-5)


def test_transformers_vectors_equal_the_clip_processor_reference(tiny_hf_clip, tiny_hf_clip_spec):
    from transformers import CLIPModel, CLIPProcessor

    folder = tiny_hf_clip_spec.removeprefix("hf:")
    ref, processor = CLIPModel.from_pretrained(folder).eval(), CLIPProcessor.from_pretrained(folder)
    images = sample_images()

    def unit(out) -> np.ndarray:
        features = out if isinstance(out, torch.Tensor) else out.pooler_output
        return torch.nn.functional.normalize(features, dim=-1).numpy()

    with torch.no_grad():
        pixels = processor(images=images, return_tensors="pt")["pixel_values"]
        ref_images = unit(ref.get_image_features(pixel_values=pixels))
        tokens = processor(text=TEXTS, padding=True, truncation=True, return_tensors="pt")
        ref_texts = unit(ref.get_text_features(**tokens))
    np.testing.assert_allclose(tiny_hf_clip.encode_images(images), ref_images, atol=1e-5)
    np.testing.assert_allclose(tiny_hf_clip.encode_texts(TEXTS), ref_texts, atol=1e-5)


def test_hf_tokenizer_built_offline_matches_open_clip_token_ids():
    import open_clip

    from tests.tiny_models import clip_tokenizer

    text = "Alice and Bob hiking near a lake, summer 2019!"
    ours = clip_tokenizer()(text)["input_ids"]
    reference = open_clip.get_tokenizer("ViT-B-32")([text])[0]
    assert ours == reference[: len(ours)].tolist()


def test_an_idle_model_unloads_and_loads_again_when_used(tiny_clip_spec):
    import time

    from index.settings import Settings

    # 0.001 minutes: the watcher looks every 15 ms and drops the weights after 60 ms unused.
    model = ClipModel(tiny_clip_spec, threads=1, settings=Settings(clip_idle_unload_minutes=0.001))
    first = model.encode_texts(["a dog"])
    assert model.loaded
    deadline = time.monotonic() + 30
    while model.loaded and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not model.loaded
    np.testing.assert_array_equal(model.encode_texts(["a dog"]), first)  # loads again
