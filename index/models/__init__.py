"""CLIP models: which one (`spec`), whether its files are usable (`checks`), the torch
reference per kind of model (`torch_clip`), and the front door `ClipModel` (`clip`).

torch, open_clip and transformers are imported only when a model actually loads, so
`--help` and `parse` start instantly, and a model that cannot load says why in well under
two seconds instead of waiting on the network.
"""

from index.models.clip import ClipModel
from index.models.spec import HF, LOCAL_DIR, OPEN_CLIP, ClipSpec, parse_clip_spec

__all__ = ["HF", "LOCAL_DIR", "OPEN_CLIP", "ClipModel", "ClipSpec", "parse_clip_spec"]
