"""Randomly initialised CLIP models, saved in the formats `index.models` loads.

For the tests (plumbing) and the benchmarks (speed) alike, which is why it lives here and
not under tests/: random weights test shapes, files and speed; they never stand in for
meaning. Everything here works offline: architectures come from configs and the tokenizer
from open_clip's bundled BPE. Nothing in the product imports it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

# Small enough to build in well under a second, but at CLIP's real input size (224 px), so
# the preprocessing under test is exactly the one real ViT-B-32 checkpoints use.
TINY_OPEN_CLIP_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "head_width": 32, "patch_size": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def _openai_preprocess_cfg(size: int) -> dict:
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    return {
        "size": size,
        "mode": "RGB",
        "mean": list(OPENAI_DATASET_MEAN),
        "std": list(OPENAI_DATASET_STD),
        "interpolation": "bicubic",
        "resize_mode": "shortest",
        "fill_color": 0,
    }


def save_open_clip_local_dir(folder: Path, model_cfg: dict, seed: int = 0) -> str:
    """Save a random open_clip model built from `model_cfg` in local-dir form; return its spec."""
    import open_clip
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = open_clip.CLIP(**model_cfg)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))
    size = model_cfg["vision_cfg"]["image_size"]
    config = {"model_cfg": model_cfg, "preprocess_cfg": _openai_preprocess_cfg(size)}
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return f"local-dir:{folder}"


def save_tiny_open_clip(folder: Path, seed: int = 0) -> str:
    """A tiny random open_clip model (embed_dim 32) in `local-dir:` format; returns the spec."""
    return save_open_clip_local_dir(folder, TINY_OPEN_CLIP_CFG, seed)


def save_random_vit_b_32(folder: Path, seed: int = 0) -> str:
    """The real ViT-B-32 architecture with random weights (~600 MB): same compute, no meaning."""
    import open_clip

    return save_open_clip_local_dir(folder, open_clip.get_model_config("ViT-B-32"), seed)


def clip_tokenizer():
    """A transformers CLIPTokenizer with OpenAI CLIP's real vocabulary, built offline.

    open_clip bundles the same BPE vocabulary and merges that openai/clip-* repos ship, so the
    token ids match theirs; only the special tokens are spelled differently.
    """
    from open_clip.tokenizer import SimpleTokenizer
    from transformers import CLIPTokenizer

    bpe = SimpleTokenizer()
    vocab = dict(bpe.encoder)
    vocab["<|startoftext|>"] = vocab.pop("<start_of_text>")
    vocab["<|endoftext|>"] = vocab.pop("<end_of_text>")
    merges = [pair for pair, _ in sorted(bpe.bpe_ranks.items(), key=lambda kv: kv[1])]
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def save_tiny_hf_clip(folder: Path, seed: int = 0) -> str:
    """A tiny random transformers CLIPModel + tokenizer + image processor; returns `hf:FOLDER`."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tower = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
    config = CLIPConfig(
        text_config={
            **tower,
            "num_attention_heads": 2,
            "vocab_size": 49408,
            "max_position_embeddings": 77,
            "bos_token_id": 49406,
            "eos_token_id": 49407,
            "pad_token_id": 49407,
        },
        vision_config={**tower, "num_attention_heads": 2, "image_size": 224, "patch_size": 32},
        projection_dim=24,
    )
    torch.manual_seed(seed)
    CLIPModel(config).eval().save_pretrained(folder)
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=clip_tokenizer())
    processor.save_pretrained(folder)
    return f"hf:{folder}"
