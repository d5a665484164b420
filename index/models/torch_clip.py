"""The torch reference encoders, one small class per kind of model.

Each knows one library's calls (open_clip or transformers): how to load, preprocess, encode,
which files hold its weights, and which plain torch modules an exporter can trace. `ClipModel`
(index/models/clip.py) adds normalisation, threads, errors and faster backends on top.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.errors import ModelUnavailable
from index.models import checks
from index.models.spec import HF, LOCAL_DIR, ClipSpec

if TYPE_CHECKING:
    import torch
    from PIL import Image


class TorchClip:
    """One loaded CLIP model running in torch: the reference every other backend must match."""

    spec: ClipSpec
    device: str
    model: Any

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """The model's own image transform: a PIL image in, a (3, H, W) tensor out."""
        raise NotImplementedError

    def encode_image(self, batch: torch.Tensor) -> torch.Tensor:
        """Unnormalised image features of a preprocessed batch."""
        raise NotImplementedError

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Text inputs, as named int64 arrays the text tower (torch or exported) takes."""
        raise NotImplementedError

    def encode_tokens(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """Unnormalised text features of `tokenize`'s output."""
        raise NotImplementedError

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Unnormalised text features of texts."""
        import torch

        tokens = {k: torch.from_numpy(v).to(self.device) for k, v in self.tokenize(texts).items()}
        return self.encode_tokens(tokens)

    def weight_files(self) -> list[Path]:
        """The files the weights came from (their hash keys exported copies)."""
        raise NotImplementedError

    def image_module(self) -> torch.nn.Module:
        """A module mapping pixels (n, 3, H, W) to features, for export."""
        return _call_module(self.encode_image, self.model)

    def text_module(self) -> torch.nn.Module | None:
        """A module mapping `tokenize`'s arrays (in order) to features; None: not exportable."""
        return None

    def release_weights(self) -> None:
        """Free the weights, keeping the model's shape (tokenize and preprocess still work;
        encoding with torch does not): for when exported towers do all the encoding."""
        self.model.to("meta")


class OpenClipTorch(TorchClip):
    """An open_clip architecture with a pretrained tag (downloaded into the hub cache)."""

    def __init__(self, spec: ClipSpec, device: str):
        import open_clip

        self.spec, self.device = spec, device
        name, pretrained = self._names(open_clip)
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, device=device
        )
        self.model = model.eval()
        self.transform = preprocess
        self.tokenizer = open_clip.get_tokenizer(name)

    def _names(self, open_clip: Any) -> tuple[str, str | None]:
        if not self.spec.name.startswith("hf-hub:"):
            _check_open_clip_name(open_clip, self.spec)
        return self.spec.name, self.spec.pretrained or None

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """open_clip's transform for this model."""
        return self.transform(image)

    def encode_image(self, batch: torch.Tensor) -> torch.Tensor:
        """open_clip's encode_image."""
        return self.model.encode_image(batch)

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """open_clip's tokens, cut after the last position any text uses (see `_trim`)."""
        tokens = self.tokenizer(texts)
        if _plain_causal(self.model):
            used = int(np.nonzero((tokens != 0).any(dim=0).numpy())[0].max()) + 1
            tokens = tokens[:, :used]
        return {"tokens": tokens.numpy().astype(np.int64)}

    def encode_tokens(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """The text tower over exactly the positions given."""
        return _encode_text_trimmed(self.model, tokens["tokens"])

    def text_module(self) -> torch.nn.Module | None:
        """The trimmed text path as a module; None for text towers it does not cover."""
        if not _plain_causal(self.model):
            return None
        return _call_module(lambda t: _encode_text_trimmed(self.model, t), self.model)

    def weight_files(self) -> list[Path]:
        """The cached checkpoint open_clip loaded (hub cache or ~/.cache/clip)."""
        repo, groups = checks._hub_files(self.spec)
        if repo is None:
            return [Path(self.spec.pretrained)] if os.path.isfile(self.spec.pretrained) else []
        found = [checks._cached_file(repo, names) for names in groups]
        return [Path(p) for p in found if p]


class LocalDirClip(OpenClipTorch):
    """An open_clip model saved in a folder (open_clip_config.json + weights)."""

    def _names(self, open_clip: Any) -> tuple[str, str | None]:
        return f"local-dir:{self.spec.path}", None

    def weight_files(self) -> list[Path]:
        """The folder's config and weights."""
        assert self.spec.path is not None
        return [self.spec.path / "open_clip_config.json", *checks.open_clip_weights(self.spec.path)]


def _plain_causal(model: Any) -> bool:
    import torch

    return (
        isinstance(getattr(model, "attn_mask", None), torch.Tensor)
        and hasattr(model, "token_embedding")
        and getattr(model, "text_pool_type", None) == "argmax"
    )


def _encode_text_trimmed(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    """open_clip's `encode_text`, over only the positions the tokens hold.

    CLIP's text tower is causal and pools at the end token, so the padding after it never
    changes a vector: dropping it (see `OpenClipTorch.tokenize`) gives the same vectors (to
    float rounding), several times faster for a short query than all 77 positions. Other
    text towers go through unchanged.
    """
    import torch
    from open_clip.transformer import text_global_pool

    if not _plain_causal(model):
        return model.encode_text(tokens)
    used = tokens.shape[1]
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast) + model.positional_embedding[:used].to(cast)
    x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:used, :used]))
    x = text_global_pool(x, tokens, "argmax")
    if isinstance(model.text_projection, torch.nn.Linear):
        return model.text_projection(x)
    return x if model.text_projection is None else x @ model.text_projection


def _check_open_clip_name(open_clip: Any, spec: ClipSpec) -> None:
    """Name the real choices when the architecture or tag is unknown (open_clip would not)."""
    if spec.name not in open_clip.list_models():
        hint = f" If it is a transformers model on the Hugging Face Hub, write hf:{spec}."
        raise ModelUnavailable(
            f"open_clip has no model architecture called '{spec.name}'.{hint} "
            'python -c "import open_clip; print(open_clip.list_pretrained())" lists the '
            "architecture/tag pairs it knows."
        )
    tag_is_file = os.path.isfile(spec.pretrained)  # open_clip also takes a checkpoint path
    if not tag_is_file and not open_clip.get_pretrained_cfg(spec.name, spec.pretrained):
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(spec.name)) or "none"
        raise ModelUnavailable(
            f"open_clip has no pretrained weights '{spec.pretrained}' for {spec.name}. "
            f"Known tags for {spec.name}: {tags}."
        )


class HfClip(TorchClip):
    """A transformers CLIP-family model (hub id or a save_pretrained folder)."""

    def __init__(self, spec: ClipSpec, device: str):
        import torch
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        self.spec, self.device = spec, device
        source = str(spec.path) if spec.path else spec.name
        # Models such as jinaai/jina-clip-v2 ship their own modelling code (config "auto_map");
        # naming one with --clip is the user's choice to run it. Plain CLIP needs none.
        self.custom = _needs_remote_code(spec)
        # transformers 5 loads in the checkpoint's dtype ("auto"); some (jina-clip) are bf16, which
        # rejects float32 pixels and is slow on most CPUs. float32 matches open_clip's default.
        model = AutoModel.from_pretrained(
            source, trust_remote_code=self.custom, dtype=torch.float32
        )
        self.model = model.to(device).eval()
        self.image_processor = AutoImageProcessor.from_pretrained(
            source, trust_remote_code=self.custom
        )
        self.tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=self.custom)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """The model's image processor."""
        return self.image_processor(images=image, return_tensors="pt")["pixel_values"][0]

    def encode_image(self, batch: torch.Tensor) -> torch.Tensor:
        """get_image_features."""
        return _features(self.model.get_image_features(pixel_values=batch))

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """jina-clip's own text path when it has one, else get_text_features."""
        import torch

        if hasattr(self.model, "encode_text"):
            # jina-clip's own text path (its pooling and truncation); returns numpy by default.
            out = self.model.encode_text(texts)
            return out if isinstance(out, torch.Tensor) else torch.as_tensor(np.asarray(out))
        return super().encode_text(texts)

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The model's tokenizer, padded to the longest text."""
        tokens = self.tokenizer(texts, padding=True, truncation=True, return_tensors="np")
        return {k: np.asarray(tokens[k], dtype=np.int64) for k in ("input_ids", "attention_mask")}

    def encode_tokens(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """get_text_features."""
        return _features(self.model.get_text_features(**tokens))

    def text_module(self) -> torch.nn.Module | None:
        """get_text_features as a module; None for models running their own code."""
        if self.custom or hasattr(self.model, "encode_text"):
            return None
        return _call_module(
            lambda ids, mask: self.encode_tokens({"input_ids": ids, "attention_mask": mask}),
            self.model,
        )

    def image_module(self) -> torch.nn.Module:
        """get_image_features as a module."""
        if self.custom:
            raise ModelUnavailable(f"{self.spec} runs its own code; it is not exported.")
        return super().image_module()

    def weight_files(self) -> list[Path]:
        """The folder's (or hub snapshot's) config and weights."""
        names = ["config.json", *checks.HF_WEIGHTS]
        if self.spec.path is not None:
            return [self.spec.path / n for n in names if (self.spec.path / n).is_file()]
        found = [checks._cached_file(self.spec.name, [n]) for n in names]
        return [Path(p) for p in found if p]


def _features(out: Any) -> torch.Tensor:
    """transformers 5 returns a model output whose pooler_output holds the projection."""
    import torch

    if isinstance(out, torch.Tensor):
        return out
    pooled = getattr(out, "pooler_output", None)
    return pooled if pooled is not None else out[0]


def _needs_remote_code(spec: ClipSpec) -> bool:
    config = _hf_file(spec, "config.json")
    if config is None:
        return False
    try:
        return "auto_map" in json.loads(Path(config).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def _hf_file(spec: ClipSpec, filename: str) -> str | None:
    """A file of an hf spec, from its folder or the hub cache (downloading it when online)."""
    if spec.path is not None:
        found = spec.path / filename
        return str(found) if found.is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        return hf_hub_download(spec.name, filename)
    except (EntryNotFoundError, LocalEntryNotFoundError):
        return None


def _call_module(fn: Any, owner: Any) -> Any:
    """`fn` as a torch module; `owner` (the model) is registered so its weights are
    parameters, not constants, when the module is traced."""
    import torch

    class Call(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.owner = owner
            self.fn = fn

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.fn(*args)

    return Call().eval()


def open_torch_clip(spec: ClipSpec, device: str) -> TorchClip:
    """Load `spec` with its library; every loader failure becomes one clear ModelUnavailable."""
    kind = {HF: HfClip, LOCAL_DIR: LocalDirClip}.get(spec.kind, OpenClipTorch)
    try:
        return kind(spec, device)
    except ModelUnavailable:
        raise
    except Exception as err:
        # Third-party loaders fail in many ways (OSError, RuntimeError, safetensors and JSON
        # errors, missing keys); to the user each means the same thing: this model is not usable.
        raise ModelUnavailable(checks.load_failed_message(spec, err)) from err
