"""The tiny random CLIP models of the tests; built by `index.random_clip` (shared with bench/)."""

from index.random_clip import (  # noqa: F401 - re-exported for the tests
    TINY_OPEN_CLIP_CFG,
    clip_tokenizer,
    save_open_clip_local_dir,
    save_random_vit_b_32,
    save_tiny_hf_clip,
    save_tiny_open_clip,
)
