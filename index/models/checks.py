"""Cheap, torch-free looks at a model's files, so a missing or damaged model fails in
milliseconds with what to do, instead of seconds later from deep inside a loader."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from index.errors import ModelUnavailable
from index.models.spec import HF, LOCAL_DIR, OPEN_CLIP_CONFIG, ClipSpec

OPEN_CLIP_WEIGHTS = ("*.safetensors", "*.bin", "*.pth")  # what open_clip looks for in a folder
HF_WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_TRUE = {"1", "on", "yes", "true"}
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
FOLDER_HINT = (
    "point --clip at a model folder you already have: "
    "--clip local-dir:/path/to/folder (open_clip_config.json + open_clip_model.safetensors), "
    "or --clip hf:/path/to/folder (a transformers CLIP model saved with save_pretrained)."
)


def precheck(spec: ClipSpec) -> None:
    """Raise ModelUnavailable now when the model's files are missing or damaged."""
    if spec.kind == LOCAL_DIR:
        _check_open_clip_folder(spec)
    elif spec.path is not None:
        _check_hf_folder(spec)
    else:
        _check_hub_cache(spec)


def offline() -> str | None:
    """The variable that switches hub downloads off, if one does (None: downloads allowed)."""
    for var in _OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return var
    from huggingface_hub import constants

    # The hub reads HF_HUB_OFFLINE once, at import; it may have been set before a change here.
    return "HF_HUB_OFFLINE" if constants.HF_HUB_OFFLINE else None


def load_failed_message(spec: ClipSpec, err: Exception) -> str:
    """What to tell the user when a third-party loader failed on `spec`."""
    msg = f"Could not load the CLIP model {spec}: {type(err).__name__}: {err}"
    if spec.kind != LOCAL_DIR and spec.path is None:
        why = offline()
        if why:
            msg += (
                f"\nThis machine is offline ({why} is set), so nothing missing can be "
                "downloaded. " + download_advice(spec)
            )
        else:
            msg += (
                "\nIf this machine has no internet, set HF_HUB_OFFLINE=1 to fail at once, and "
                + download_advice(spec)
            )
    return msg + "\nOr " + FOLDER_HINT


def _check_hub_cache(spec: ClipSpec) -> None:
    """Offline and not downloaded: say so now, instead of after importing torch (seconds)."""
    repo, groups = _hub_files(spec)
    if repo is None:
        return  # not in open_clip's tag table: the loader itself names the real choices
    found = [_cached_file(repo, names) for names in groups]
    for path in found:
        if path is not None:
            check_safetensors(Path(path))
    why = offline() or (hub_unreachable() if None in found else None)
    if None in found and why:
        raise ModelUnavailable(
            f"The CLIP model {spec} is not on this machine, and this machine is offline "
            f"({why if ' ' in why else why + ' is set'}), "
            "so it cannot be downloaded now. " + download_advice(spec) + "\nOr " + FOLDER_HINT
        )


def hub_unreachable(timeout: float = 1.5) -> str | None:
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


def _hub_files(spec: ClipSpec) -> tuple[str | None, list[list[str]]]:
    """The hub repo of a spec and the files it needs: one of each group (None: unknown).

    An empty repo means open_clip's URL cache (~/.cache/clip) rather than the hub.
    """
    if spec.kind == HF:
        return spec.name, [["config.json"], list(HF_WEIGHTS)]
    if spec.name.startswith("hf-hub:"):
        return spec.name.removeprefix("hf-hub:"), [["open_clip_config.json"]]
    listing = open_clip_listing()
    cfg = listing.get_pretrained_cfg(spec.name, spec.pretrained) if listing else None
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


def missing_hub_files(spec: ClipSpec) -> tuple[str, list[list[str]]] | None:
    """(hub repo, groups of file names) when the model's weights are not downloaded yet and
    downloads are allowed; None for folders, cached models and offline machines."""
    if offline():
        return None
    repo, groups = _hub_files(spec)
    if not repo or all(_cached_file(repo, names) for names in groups):
        return None
    return repo, groups


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
def open_clip_listing() -> Any:
    """open_clip's `pretrained` module: its own `list_pretrained`, `get_pretrained_cfg`, ...

    Importing open_clip costs seconds (torch, torchvision, transformers), which would make an
    offline machine wait that long to hear "not downloaded". The listing module itself needs
    none of that, so it is loaded on its own, under a private name, with its optional
    `safetensors.torch` import (used only for downloads, never here) switched off. If that
    ever fails, the real open_clip is imported: slower, same answers.
    """
    found = importlib.util.find_spec("open_clip")
    if found is None or not found.submodule_search_locations:
        return None
    folder = Path(next(iter(found.submodule_search_locations)))
    name = "_pir_open_clip_listing"
    package = ModuleType(name)
    package.__path__ = [str(folder)]
    saved = {k: sys.modules.get(k) for k in (name, "safetensors.torch")}
    sys.modules[name] = package
    sys.modules["safetensors.torch"] = None  # type: ignore[assignment]  # -> ImportError
    try:
        module_spec = importlib.util.spec_from_file_location(
            f"{name}.pretrained", folder / "pretrained.py"
        )
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module
    except Exception:  # noqa: BLE001 - any surprise in a future open_clip: use the real one
        import open_clip

        return open_clip
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value
        for key in [k for k in sys.modules if k.startswith(name + ".")]:
            sys.modules.pop(key, None)


def download_advice(spec: ClipSpec) -> str:
    """The commands that fetch `spec` into the Hugging Face cache on a machine with internet."""
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
    config = folder / OPEN_CLIP_CONFIG
    if not config.is_file():
        hint = (
            f" It looks like a transformers model: use --clip hf:{folder}."
            if (folder / "config.json").is_file()
            else ""
        )
        raise ModelUnavailable(
            f"The CLIP model folder {folder} has no {OPEN_CLIP_CONFIG}; a local-dir: model needs "
            f"{OPEN_CLIP_CONFIG} and open_clip_model.safetensors.{hint}"
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
    weights = open_clip_weights(folder)
    if not weights:
        # open_clip would carry on with random weights; vectors from those would mean nothing.
        raise ModelUnavailable(
            f"The CLIP model folder {folder} has a config but no weights "
            "(open_clip_model.safetensors, or a .bin/.pth checkpoint)."
        )
    for w in weights:
        check_safetensors(w)


def open_clip_weights(folder: Path) -> list[Path]:
    """The weight files open_clip would read from a local-dir folder."""
    return sorted(w for pattern in OPEN_CLIP_WEIGHTS for w in folder.glob(pattern))


def _check_hf_folder(spec: ClipSpec) -> None:
    folder = _existing_folder(spec)
    if not (folder / "config.json").is_file():
        hint = (
            f" It looks like an open_clip model: use --clip local-dir:{folder}."
            if (folder / OPEN_CLIP_CONFIG).is_file()
            else ""
        )
        raise ModelUnavailable(
            f"The CLIP model folder {folder} has no config.json, so it is not a transformers "
            "model folder (save one with model.save_pretrained and processor.save_pretrained)."
            + hint
        )
    weights = [folder / name for name in HF_WEIGHTS if (folder / name).is_file()]
    if not weights:
        raise ModelUnavailable(
            f"The CLIP model folder {folder} has a config.json but no weights "
            f"({', '.join(HF_WEIGHTS[::2])})."
        )
    for w in folder.glob("*.safetensors"):
        check_safetensors(w)


def _existing_folder(spec: ClipSpec) -> Path:
    assert spec.path is not None
    if not spec.path.is_dir():
        what = "is a file, not a folder" if spec.path.exists() else "does not exist"
        raise ModelUnavailable(
            f"The CLIP model folder {spec.path} {what}. Check the path, or {FOLDER_HINT}"
        )
    return spec.path


def check_safetensors(path: Path) -> None:
    """Catch a truncated or foreign .safetensors file from its header, without loading it."""
    if path.suffix != ".safetensors":
        return
    from safetensors import safe_open

    try:
        # safe_open reads and validates the header (and that the data fits the file) only.
        with safe_open(str(path), framework="numpy") as f:
            f.keys()
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types
        raise ModelUnavailable(
            f"The weights file {path} is damaged: its header cannot be read or does not fit "
            f"the file ({type(err).__name__}: an interrupted download or copy?). "
            "Copy or download it again."
        ) from err
