"""Which encoder backends' vectors may share one index: the int8 self-check's verdict.

An int8 image encoder must prove itself on the user's own photos (every cosine against fp32
at least `clip_int8_min_cosine` on a calibration sample) before its vectors sit beside fp32
ones. The verdict is kept in the catalog's meta table, per model and threshold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from index.models import encoders

if TYPE_CHECKING:
    from index.catalog import Catalog
    from index.models.clip import ClipModel


def int8_meta_key(spec: str) -> str:
    """The catalog meta key holding the int8 self-check's verdict for one model."""
    return f"int8_verdict:{spec}"


def verdict_text(verdict: encoders.Verdict) -> str:
    """A verdict as stored: "passed" or "failed", and the threshold it was judged at."""
    return f"{'passed' if verdict.passed else 'failed'}@{verdict.threshold}"


def accepted_backends(catalog: Catalog, clip: ClipModel) -> list[str]:
    """Backends whose vectors may share this library's index (int8 only once it passed)."""
    stored = catalog.meta(int8_meta_key(clip.spec)) or ""
    passed = stored == f"passed@{clip.settings.clip_int8_min_cosine}"
    return encoders.compatible_backends(passed)


def record_verdict(catalog: Catalog, spec: str, verdict: encoders.Verdict | None) -> None:
    """Keep the int8 verdict in the catalog: it decides which vectors share an index."""
    key = int8_meta_key(spec)
    if verdict is not None and catalog.meta(key) != verdict_text(verdict):
        with catalog.transaction():
            catalog.set_meta(key, verdict_text(verdict))
            catalog.bump_generation("images")
