"""Which CLIP model: the `--clip` value parsed into a `ClipSpec` (no torch, no files read)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from index.errors import InvalidInput
from index.settings import DEFAULT_CLIP

OPEN_CLIP = "open_clip"
LOCAL_DIR = "local-dir"
HF = "hf"
OPEN_CLIP_CONFIG = "open_clip_config.json"


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
        kind = LOCAL_DIR if (folder / OPEN_CLIP_CONFIG).is_file() else HF
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
