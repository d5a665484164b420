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


def int8_reason_key(spec: str) -> str:
    """The catalog meta key holding why int8 is or is not used for one model (for `stats`)."""
    return f"int8_reason:{spec}"


def record_verdict(catalog: Catalog, spec: str, verdict: encoders.Verdict | None) -> None:
    """Keep the int8 verdict in the catalog: it decides which vectors share an index; and
    keep its reason beside it, for `stats`."""
    if verdict is None:
        return
    key, reason_key = int8_meta_key(spec), int8_reason_key(spec)
    changed = catalog.meta(key) != verdict_text(verdict)
    if changed or (verdict.reason and catalog.meta(reason_key) != verdict.reason):
        with catalog.transaction():
            catalog.set_meta(key, verdict_text(verdict))
            if verdict.reason:
                catalog.set_meta(reason_key, verdict.reason)
            if changed:
                catalog.bump_generation("images")


def encoder_state(catalog: Catalog, spec: str) -> dict:
    """Which image encoder the last check chose for this model, and why (from the catalog)."""
    verdict = catalog.meta(int8_meta_key(spec))
    return {
        "int8": verdict or "not checked yet",
        "why": catalog.meta(int8_reason_key(spec))
        or ("int8 not checked yet: fp32 or torch encodes" if verdict is None else ""),
    }
