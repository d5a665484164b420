"""Face boxes compared: how much two boxes overlap, and which new face is which old one.

Used wherever faces found again must keep what was said about them: a photo re-analysed
(the face stage) and names given back from people.json (index/people_file.py).
"""

from __future__ import annotations

from index.types import Box, Face


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (x1, y1, x2, y2)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def same_faces(boxes: list[Box], old: list[Face], min_iou: float = 0.5) -> list[Face | None]:
    """For each new box, the old face it is (best overlap above `min_iou`), each used once."""
    out: list[Face | None] = []
    used: set[int] = set()
    for box in boxes:
        best = max(
            (f for f in old if f["id"] not in used),
            key=lambda f: box_iou(box, f["box"]),
            default=None,
        )
        if best is not None and box_iou(box, best["box"]) >= min_iou:
            used.add(best["id"])
            out.append(best)
        else:
            out.append(None)
    return out
