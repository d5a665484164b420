"""Ranking: arrays in, arrays out. How sure face matches are, where the irrelevant tail of a
ranking starts, and orderings that keep ties stable; every function is tested without a model.
"""

from __future__ import annotations

import numpy as np

from index.settings import Settings


def tail_cut(
    scores: np.ndarray, background: np.ndarray, settings: Settings
) -> tuple[int, np.ndarray]:
    """How many of `scores` (best first) are matches, and the z-score of each.

    z is measured against `background`, the same query's similarity to a sample of the
    library, so the rule is unchanged by any shift or scaling of a model's scores. With
    enough background to judge (`search_min_background`), nothing matches unless the best
    hit stands `search_min_z` above a typical photo; a hit is kept while its z is at least
    `search_rel_cut` of the best one's (and, when judging, at least `search_min_z`).
    """
    scores = np.asarray(scores, dtype=np.float64)
    background = np.asarray(background, dtype=np.float64)
    if len(scores) == 0:
        return 0, np.zeros(0)
    if len(background) < 2:
        return len(scores), np.zeros(len(scores))  # nothing to compare with: keep the ranking
    mu, sigma = float(background.mean()), float(background.std())
    z = (scores - mu) / max(sigma, 1e-6)
    judging = len(background) >= settings.search_min_background
    if judging and z[0] < settings.search_min_z:
        return 0, z
    floor = settings.search_rel_cut * z[0] if z[0] > 0 else -np.inf
    if judging:
        floor = max(floor, settings.search_min_z)
    below = np.flatnonzero(z < floor)
    return (int(below[0]) if len(below) else len(z)), z


def face_confidence(
    distance: np.ndarray, width: np.ndarray, score: np.ndarray, settings: Settings
) -> np.ndarray:
    """How sure a face match is, 0..1: closeness to the person, face size, detector score."""
    close = 1.0 - np.clip(np.asarray(distance) / settings.face_max_distance, 0.0, 1.0)
    size = np.clip(np.asarray(width) / settings.face_rank_full_size, 0.0, 1.0)
    floor = settings.face_min_score
    detect = np.clip((np.asarray(score) - floor) / max(1.0 - floor, 1e-6), 0.0, 1.0)
    return (
        settings.face_rank_distance_weight * close
        + settings.face_rank_size_weight * size
        + settings.face_rank_score_weight * detect
    )


def photo_confidence(
    candidates: np.ndarray,
    face_photo: np.ndarray,
    face_person: np.ndarray,
    face_conf: np.ndarray,
    all_of: tuple[int, ...],
    any_of: tuple[int, ...],
) -> np.ndarray:
    """Per candidate photo: the mean, over the people asked for, of their best face's
    confidence (each `all_of` person counts once; the `any_of` group counts once, by its
    best member). Photos missing a person score 0 for that slot."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if len(candidates) == 0:
        return np.zeros(0)
    order = np.argsort(candidates)
    sorted_c = candidates[order]
    pos = np.minimum(np.searchsorted(sorted_c, face_photo), len(sorted_c) - 1)
    on_candidate = sorted_c[pos] == face_photo
    slots = [(p,) for p in all_of] + ([tuple(any_of)] if any_of else [])
    if not slots:
        return np.ones(len(candidates))
    total = np.zeros(len(candidates))
    for people in slots:
        mask = on_candidate & np.isin(face_person, people)
        best = np.zeros(len(candidates))
        np.maximum.at(best, order[pos[mask]], face_conf[mask])
        total += best
    return total / len(slots)


def certain_first(
    ids: np.ndarray, scores: np.ndarray, uncertain: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The same ranking with the `uncertain` items moved after the others, each part in
    its own order (a date query: photos dated only by their file time go last)."""
    order = np.argsort(np.asarray(uncertain, dtype=bool), kind="stable")
    return np.asarray(ids)[order], np.asarray(scores)[order]


def rank_by_confidence(confidence: np.ndarray, bucket: float) -> np.ndarray:
    """Order (indices) by confidence, counting values within `bucket` as equal; ties keep the
    input order, which is newest first."""
    keys = -np.floor(np.asarray(confidence) / max(bucket, 1e-9) + 1e-9)
    return np.argsort(keys, kind="stable")
