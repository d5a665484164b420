"""CLIP image and text encoders behind one small interface, loaded on first use.

Three kinds of model are understood (see `parse_clip_spec`): an open_clip architecture with a
pretrained tag, an open_clip `local-dir:` folder, and a transformers CLIP-family model (hub id
or folder). torch, open_clip and transformers are imported only when a model actually loads,
so `--help` and `parse` start instantly, and a model that cannot load says why in well under
two seconds instead of waiting on the network.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.errors import InvalidInput, ModelUnavailable
from index.settings import DEFAULT_CLIP

if TYPE_CHECKING:
    import torch
    from PIL import Image

OPEN_CLIP = "open_clip"
LOCAL_DIR = "local-dir"
HF = "hf"

_OPEN_CLIP_CONFIG = "open_clip_config.json"
_OPEN_CLIP_WEIGHTS = ("*.safetensors", "*.bin", "*.pth")  # what open_clip looks for in a folder
_HF_WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_TRUE = {"1", "on", "yes", "true"}
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_FOLDER_HINT = (
    "point --clip at a model folder you already have: "
    "--clip local-dir:/path/to/folder (open_clip_config.json + open_clip_model.safetensors), "
    "or --clip hf:/path/to/folder (a transformers CLIP model saved with save_pretrained)."
)


@dataclass(frozen=True)
class ClipSpec:
    """Which CLIP model to use; `str(spec)` is the canonical form recorded in the catalog."""

    kind: str  # OPEN_CLIP, LOCAL_DIR or HF
    name: str  # open_clip architecture (or "hf-hub:org/repo"), hub repo id, or folder path
    pretrained: str = ""  # open_clip pretrained tag, as typed
    path: Path | None = None  # the folder, for local-dir and hf folders

    def __str__(self) -> str:
        if self.kind == LOCAL_DIR:
            return f"local-dir:{self.path}"
        if self.kind == HF:
            return f"hf:{self.path or self.name}"
        return f"{self.name}/{self.pretrained}" if self.pretrained else self.name


def parse_clip_spec(spec: str) -> ClipSpec:
    """Parse a `--clip` value: `ARCH/TAG` or `ARCH:TAG`, `local-dir:DIR`, `hf:ID`, `hf:DIR`, DIR."""
    text = spec.strip()
    if not text:
        raise InvalidInput(f"Empty CLIP model name; the default is {DEFAULT_CLIP}.")
    if text.startswith("local-dir:"):
        return _folder_spec(LOCAL_DIR, text.removeprefix("local-dir:"))
    if text.startswith("hf:"):
        rest = text.removeprefix("hf:").strip()
        if not rest:
            raise InvalidInput("Give a model after 'hf:', e.g. hf:openai/clip-vit-base-patch32.")
        return _folder_spec(HF, rest) if _looks_like_path(rest) else ClipSpec(HF, rest)
    if text.startswith("hf-hub:"):
        # open_clip's own hub form: config and weights both come from the repo.
        return ClipSpec(OPEN_CLIP, text)
    if _looks_like_path(text):
        folder = Path(text).expanduser()
        kind = LOCAL_DIR if (folder / _OPEN_CLIP_CONFIG).is_file() else HF
        return _folder_spec(kind, text)
    sep = min((i for i in (text.find("/"), text.find(":")) if i > 0), default=-1)
    if sep < 0 or sep == len(text) - 1:
        raise InvalidInput(
            f"'{text}' names an open_clip architecture without its weights. Add a pretrained "
            f"tag after '/', e.g. {DEFAULT_CLIP}; "
            'python -c "import open_clip; print(open_clip.list_pretrained())" lists them.'
        )
    return ClipSpec(OPEN_CLIP, text[:sep].strip(), text[sep + 1 :].strip())


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~", ".\\")) or os.path.isdir(text)


def _folder_spec(kind: str, raw: str) -> ClipSpec:
    if not raw.strip():
        raise InvalidInput(f"Give a folder after '{kind}:', e.g. {kind}:/path/to/model.")
    folder = Path(raw.strip()).expanduser().resolve()
    return ClipSpec(kind, str(folder), path=folder)


class ClipModel:
    """One CLIP model: images and texts in, L2-normalised float32 vectors out.

    Construction is free; weights load on first use (or `load()`), once, thread-safely.
    """

    def __init__(self, spec: str = DEFAULT_CLIP, device: str = "cpu", threads: int = 0):
        """Remember which model to use; loads nothing. threads=0 means one per physical core."""
        self.clip_spec = parse_clip_spec(spec)
        self.spec = str(self.clip_spec)
        self.device = device
        self.threads = threads
        self._backend: _OpenClipBackend | _HfBackend | None = None
        self._error: ModelUnavailable | None = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the weights now; raises ModelUnavailable (fast, with what to do) when it cannot."""
        if self._backend is not None:
            return
        with self._lock:
            if self._backend is not None:
                return
            if self._error is not None:
                raise self._error
            try:
                _precheck(self.clip_spec)
                _set_torch_threads(self.threads)
                self._backend = _open_backend(self.clip_spec, self.device)
            except ModelUnavailable as err:
                self._error = err
                raise

    def check(self) -> str | None:
        """Why the model cannot load, from a cheap look at its files (no torch); None if it may."""
        if self._backend is not None:
            return None
        if self._error is None:
            try:
                _precheck(self.clip_spec)
            except ModelUnavailable as err:
                self._error = err
        return self.load_error

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory now."""
        return self._backend is not None

    def is_available(self) -> bool:
        """Whether the model loads; tries once, remembers the answer, never raises."""
        try:
            self.load()
        except ModelUnavailable:
            return False
        return True

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

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """The model's own image transform: a PIL image in, a (3, H, W) tensor out."""
        return self._loaded().preprocess(image)

    def encode_preprocessed(self, batch: torch.Tensor) -> np.ndarray:
        """Vectors for a batch of `preprocess` outputs: (n, dim) float32, L2-normalised."""
        import torch

        backend = self._loaded()
        if batch.ndim == 3:
            batch = batch.unsqueeze(0)
        with torch.inference_mode():
            return _normalised(backend.encode_image(batch.to(self.device)))

    def encode_images(self, images: list[Image.Image]) -> np.ndarray:
        """Vectors for PIL images (preprocess + encode), one row per image."""
        import torch

        if not images:
            return np.zeros((0, self.dim), np.float32)
        backend = self._loaded()
        return self.encode_preprocessed(torch.stack([backend.preprocess(im) for im in images]))

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Vectors for texts: (n, dim) float32, L2-normalised."""
        import torch

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        backend = self._loaded()
        with torch.inference_mode():
            return _normalised(backend.encode_text(list(texts)))

    def _loaded(self) -> _OpenClipBackend | _HfBackend:
        self.load()
        assert self._backend is not None
        return self._backend

    def __repr__(self) -> str:
        state = "loaded" if self._backend else ("unavailable" if self._error else "not loaded")
        return f"ClipModel({self.spec!r}, device={self.device!r}, {state})"


def _normalised(vectors: torch.Tensor) -> np.ndarray:
    import torch.nn.functional as F

    # Same formula as open_clip's encode_image(normalize=True), so vectors match its reference.
    out = F.normalize(vectors.float(), dim=-1)
    return np.ascontiguousarray(out.cpu().numpy(), dtype=np.float32)


def _set_torch_threads(threads: int) -> None:
    """Pin torch's intra-op threads: oversubscribing logical cores slows CPU inference."""
    import torch

    if threads <= 0:
        import psutil

        threads = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------
# Backends: each knows one library's calls; ClipModel adds normalisation, devices and errors.


class _OpenClipBackend:
    def __init__(self, spec: ClipSpec, device: str):
        import open_clip

        if spec.kind == LOCAL_DIR:
            name, pretrained = f"local-dir:{spec.path}", None
        else:
            name, pretrained = spec.name, spec.pretrained or None
            if not name.startswith("hf-hub:"):
                _check_open_clip_name(open_clip, spec)
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, device=device
        )
        self.model = model.eval()
        self.transform = preprocess
        self.tokenizer = open_clip.get_tokenizer(name)
        self.device = device

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return self.transform(image)

    def encode_image(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(batch)

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        return _encode_text_trimmed(self.model, self.tokenizer(texts).to(self.device))


def _encode_text_trimmed(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    """open_clip's `encode_text`, run over only the positions the longest text uses.

    CLIP's text tower is causal and pools at the end token, so the padding after it never
    changes a vector: dropping it gives the same vectors (to float rounding), several times
    faster for a short query than all 77 positions. Other text towers go through unchanged.
    """
    import torch
    from open_clip.transformer import text_global_pool

    plain_causal = (
        isinstance(getattr(model, "attn_mask", None), torch.Tensor)
        and hasattr(model, "token_embedding")
        and getattr(model, "text_pool_type", None) == "argmax"
    )
    if not plain_causal:
        return model.encode_text(tokens)
    used = int(torch.nonzero((tokens != 0).any(dim=0)).max()) + 1  # open_clip pads with 0
    tokens = tokens[:, :used]
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


class _HfBackend:
    def __init__(self, spec: ClipSpec, device: str):
        import torch
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        source = str(spec.path) if spec.path else spec.name
        # Models such as jinaai/jina-clip-v2 ship their own modelling code (config "auto_map");
        # naming one with --clip is the user's choice to run it. Plain CLIP needs none.
        trust = _needs_remote_code(spec)
        # transformers 5 loads in the checkpoint's dtype ("auto"); some (jina-clip) are bf16, which
        # rejects float32 pixels and is slow on most CPUs. float32 matches open_clip's default.
        model = AutoModel.from_pretrained(source, trust_remote_code=trust, dtype=torch.float32)
        self.model = model.to(device).eval()
        self.image_processor = AutoImageProcessor.from_pretrained(source, trust_remote_code=trust)
        self.tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust)
        self.device = device

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return self.image_processor(images=image, return_tensors="pt")["pixel_values"][0]

    def encode_image(self, batch: torch.Tensor) -> torch.Tensor:
        return _features(self.model.get_image_features(pixel_values=batch))

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        import torch

        if hasattr(self.model, "encode_text"):
            # jina-clip's own text path (its pooling and truncation); returns numpy by default.
            out = self.model.encode_text(texts)
            return out if isinstance(out, torch.Tensor) else torch.as_tensor(np.asarray(out))
        tokens = self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        tokens = {k: v.to(self.device) for k, v in tokens.items()}
        return _features(self.model.get_text_features(**tokens))


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


def _open_backend(spec: ClipSpec, device: str) -> _OpenClipBackend | _HfBackend:
    backend = _HfBackend if spec.kind == HF else _OpenClipBackend
    try:
        return backend(spec, device)
    except ModelUnavailable:
        raise
    except Exception as err:
        # Third-party loaders fail in many ways (OSError, RuntimeError, safetensors and JSON
        # errors, missing keys); to the user each means the same thing: this model is not usable.
        raise ModelUnavailable(_load_failed_message(spec, err)) from err


def _load_failed_message(spec: ClipSpec, err: Exception) -> str:
    msg = f"Could not load the CLIP model {spec}: {type(err).__name__}: {err}"
    if spec.kind != LOCAL_DIR and spec.path is None:
        offline = _offline()
        if offline:
            msg += (
                f"\nThis machine is offline ({offline} is set), so nothing missing can be "
                "downloaded. " + _download_advice(spec)
            )
        else:
            msg += (
                "\nIf this machine has no internet, set HF_HUB_OFFLINE=1 to fail at once, and "
                + _download_advice(spec)
            )
    return msg + "\nOr " + _FOLDER_HINT


# ---------------------------------------------------------------------------------------------
# Prechecks: cheap, torch-free look at the files, so a missing model fails in milliseconds.


def _precheck(spec: ClipSpec) -> None:
    if spec.kind == LOCAL_DIR:
        _check_open_clip_folder(spec)
    elif spec.path is not None:
        _check_hf_folder(spec)
    else:
        _check_hub_cache(spec)


def _check_hub_cache(spec: ClipSpec) -> None:
    """Offline and not downloaded: say so now, instead of after importing torch (seconds)."""
    repo, groups = _hub_files(spec)
    if repo is None:
        return  # not in the tag table read here: the loader itself names the real choices
    found = [_cached_file(repo, names) for names in groups]
    for path in found:
        if path is not None:
            _check_safetensors(Path(path))
    offline = _offline() or (_hub_unreachable() if None in found else None)
    if None in found and offline:
        raise ModelUnavailable(
            f"The CLIP model {spec} is not on this machine, and this machine is offline "
            f"({offline if ' ' in offline else offline + ' is set'}), "
            "so it cannot be downloaded now. " + _download_advice(spec) + "\nOr " + _FOLDER_HINT
        )


def _hub_unreachable(timeout: float = 1.5) -> str | None:
    """A reason when the model hub cannot be reached at all (no network, no DNS).

    Without this, a machine with no internet and no HF_HUB_OFFLINE waits ~50 s on
    huggingface_hub's retries before saying the same thing.
    """
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as err:
        return f"{host} cannot be reached: {err.strerror or err}"
    return None


def _offline() -> str | None:
    """The variable that switches hub downloads off, if one does (None: downloads allowed)."""
    for var in _OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return var
    from huggingface_hub import constants

    # The hub reads HF_HUB_OFFLINE once, at import; it may have been set before a change here.
    return "HF_HUB_OFFLINE" if constants.HF_HUB_OFFLINE else None


def _hub_files(spec: ClipSpec) -> tuple[str | None, list[list[str]]]:
    """The hub repo of a spec and the files it needs: one of each group (None: unknown).

    An empty repo means open_clip's URL cache (~/.cache/clip) rather than the hub.
    """
    if spec.kind == HF:
        return spec.name, [["config.json"], list(_HF_WEIGHTS)]
    if spec.name.startswith("hf-hub:"):
        return spec.name.removeprefix("hf-hub:"), [["open_clip_config.json"]]
    tag = spec.pretrained.lower().replace("-", "_")  # open_clip's own tag matching
    cfg = _open_clip_registry().get(spec.name.removesuffix("-quickgelu"), {}).get(tag)
    if not cfg:
        return None, []
    if cfg.get("hf_hub"):
        # open_clip's convention: "org/repo/" means its default file, "org/repo/file" that file,
        # and a .safetensors twin is preferred when the repo has one.
        repo, filename = os.path.split(cfg["hf_hub"])
        filename = filename or "open_clip_pytorch_model.bin"
        names = [filename]
        if filename == "open_clip_pytorch_model.bin":
            names.insert(0, "open_clip_model.safetensors")
        elif filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        return repo, [names]
    url_file = Path("~/.cache/clip").expanduser() / os.path.basename(cfg.get("url", ""))
    return "", [[str(url_file)]]


def _cached_file(repo: str, names: list[str]) -> str | None:
    """The first of `names` already on disk (hub cache, or plain paths when repo is "")."""
    if repo == "":
        return next((n for n in names if os.path.isfile(n)), None)
    from huggingface_hub import try_to_load_from_cache

    for name in names:
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str):
            return found
    return None


@functools.cache
def _open_clip_registry() -> dict[str, dict[str, dict[str, str]]]:
    """open_clip's tag table {model: {tag: {hf_hub, url}}}, read from its source as data.

    Importing open_clip costs ~4 s (torch, torchvision, transformers); its tag table is plain
    literals in pretrained.py, so reading them lets an offline machine say "not downloaded"
    at once. Only the precheck uses this; loading always goes through open_clip itself, so if
    a future open_clip changes the file's shape the only cost is a slower failure.
    """
    found = importlib.util.find_spec("open_clip")
    if found is None or not found.submodule_search_locations:
        return {}
    source = Path(next(iter(found.submodule_search_locations))) / "pretrained.py"
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return {}
    tables: dict[str, dict[str, dict[str, str]]] = {}
    registry: dict[str, dict[str, dict[str, str]]] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
            continue
        var = node.targets[0].id
        if var == "_PRETRAINED" and isinstance(node.value, ast.Dict):
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    is_ref = isinstance(value, ast.Name)
                    table = tables.get(value.id, {}) if is_ref else _tag_table(value)
                    registry[key.value] = table
        else:
            tables[var] = _tag_table(node.value)
    return registry


def _tag_table(node: ast.expr) -> dict[str, dict[str, str]]:
    """`dict(tag=_pcfg(hf_hub="org/repo/", url="..."), ...)` as {tag: {"hf_hub": ..., ...}}."""
    if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "dict"):
        return {}
    table = {}
    for kw in node.keywords:
        if kw.arg and isinstance(kw.value, ast.Call):
            cfg = {
                k.arg: k.value.value
                for k in kw.value.keywords
                if k.arg in ("hf_hub", "url") and isinstance(k.value, ast.Constant)
            }
            if cfg:
                table[kw.arg] = cfg
    return table


def _download_advice(spec: ClipSpec) -> str:
    repo, groups = _hub_files(spec)
    if spec.kind == HF:
        commands = [
            f"hf download {spec.name}",
            f'python -c "from transformers import AutoModel; '
            f"AutoModel.from_pretrained('{spec.name}'"
            # jina-clip models run their own code; others need no such flag.
            + (", trust_remote_code=True" if spec.name.startswith("jinaai/") else "")
            + ')"',
        ]
    elif spec.name.startswith("hf-hub:"):
        commands = [
            f"python -c \"import open_clip; open_clip.create_model_and_transforms('{spec.name}')\"",
            f"hf download {repo}",
        ]
    else:
        commands = [
            f'python -c "import open_clip; open_clip.create_model_and_transforms('
            f"'{spec.name}', pretrained='{spec.pretrained}')\""
        ]
        if repo:
            commands.append(f"hf download {repo} {groups[0][0]}")
    return (
        "To get it, run this once on a machine with internet (without HF_HUB_OFFLINE); the "
        "weights go to the Hugging Face cache (~/.cache/huggingface/hub, or $HF_HOME/hub), "
        "which you can copy to an offline machine:\n  " + "\n  or: ".join(commands)
    )


def _check_open_clip_folder(spec: ClipSpec) -> None:
    folder = _existing_folder(spec)
    config = folder / _OPEN_CLIP_CONFIG
    if not config.is_file():
        hint = (
            f" It looks like a transformers model: use --clip hf:{folder}."
            if (folder / "config.json").is_file()
            else ""
        )
        raise ModelUnavailable(
            f"The CLIP model folder {folder} has no {_OPEN_CLIP_CONFIG}; a local-dir: model needs "
            f"{_OPEN_CLIP_CONFIG} and open_clip_model.safetensors.{hint}"
        )
    try:
        parsed = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelUnavailable(f"{config} is not readable JSON ({err}).") from err
    if not isinstance(parsed, dict) or "model_cfg" not in parsed:
        raise ModelUnavailable(
            f'{config} lacks "model_cfg": it must hold {{"model_cfg": ..., "preprocess_cfg": ...}} '
            "as open_clip writes it."
        )
    weights = sorted(w for pattern in _OPEN_CLIP_WEIGHTS for w in folder.glob(pattern))
    if not weights:
        # open_clip would carry on with random weights; vectors from those would mean nothing.
        raise ModelUnavailable(
            f"The CLIP model folder {folder} has a config but no weights "
            "(open_clip_model.safetensors, or a .bin/.pth checkpoint)."
        )
    for w in weights:
        _check_safetensors(w)


def _check_hf_folder(spec: ClipSpec) -> None:
    folder = _existing_folder(spec)
    if not (folder / "config.json").is_file():
        hint = (
            f" It looks like an open_clip model: use --clip local-dir:{folder}."
            if (folder / _OPEN_CLIP_CONFIG).is_file()
            else ""
        )
        raise ModelUnavailable(
            f"The CLIP model folder {folder} has no config.json, so it is not a transformers "
            "model folder (save one with model.save_pretrained and processor.save_pretrained)."
            + hint
        )
    weights = [folder / name for name in _HF_WEIGHTS if (folder / name).is_file()]
    if not weights:
        raise ModelUnavailable(
            f"The CLIP model folder {folder} has a config.json but no weights "
            f"({', '.join(_HF_WEIGHTS[::2])})."
        )
    for w in folder.glob("*.safetensors"):
        _check_safetensors(w)


def _existing_folder(spec: ClipSpec) -> Path:
    assert spec.path is not None
    if not spec.path.is_dir():
        what = "is a file, not a folder" if spec.path.exists() else "does not exist"
        raise ModelUnavailable(
            f"The CLIP model folder {spec.path} {what}. Check the path, or {_FOLDER_HINT}"
        )
    return spec.path


def _check_safetensors(path: Path) -> None:
    """Catch a truncated or foreign .safetensors file from its header, without loading it."""
    if path.suffix != ".safetensors":
        return
    problem = None
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            length = int.from_bytes(head, "little") if len(head) == 8 else -1
            if not 0 < length <= size - 8:
                problem = "its header is missing or cut short"
            else:
                header = json.loads(f.read(length))
                ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
                if 8 + length + max(ends, default=0) != size:
                    problem = f"it holds {size} bytes where its header promises a different size"
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as err:
        problem = f"its header cannot be read ({type(err).__name__})"
    if problem:
        raise ModelUnavailable(
            f"The weights file {path} is damaged: {problem} (an interrupted download or copy?). "
            "Copy or download it again."
        )
