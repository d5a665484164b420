"""Copies and near-copies: which photos are the same picture, and which one of each to keep.

The rules, in plain words:
1. Exact copies have the same file content (the catalog's content hash).
2. Two photos are near-duplicates (a burst, a resized or re-encoded copy, a small edit or
   crop) when their perceptual hashes (64-bit DCT hash of the thumbnail) differ in at most
   `dup_phash_max_bits` bits, AND, when both carry a capture time their camera stated
   (EXIF or XMP), they were taken at most `dup_max_seconds` apart: two shots of one beach an
   hour apart are look-alikes, not duplicates. A photo without a stated time (a copy sent
   through a messenger loses its EXIF) is judged by its pixels alone.
3. CLIP only vetoes: when the library has image vectors, a pair whose vectors are less
   similar than `dup_clip_min_cosine` is not a duplicate. It never adds a pair, so the
   decision stands on the hash and the time (what the measurement in the README measured).
4. A group is every photo linked by rule 1 or 2. The one to keep has the most named people,
   then the most pixels, then the sharpest pixels, then the biggest file; the reason says
   which of these decided.
Nothing here deletes or moves a file: it only lists.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from PIL import Image

from index import layout, scan
from index.catalog import Catalog
from index.settings import Settings

Progress = Callable[[int, int, str], None]  # done, total, what is happening
LOOKS_BATCH = 200  # photos hashed per catalog transaction

# Dates a camera or editor stated (index/dates.py); a file time or a name says too little.
STATED_SOURCES = frozenset({"exif", "xmp"})


@dataclass(frozen=True)
class Look:
    """What the duplicate finder knows of one photo."""

    photo_id: int
    path: str
    content: str  # the file's content hash
    phash: int  # 64-bit perceptual hash
    sharpness: float  # variance of the thumbnail's Laplacian (higher: sharper)
    pixels: int  # width * height of the original
    size: int  # bytes
    taken_at: str | None = None
    stated_time: bool = False  # taken_at came from EXIF/XMP
    named_faces: int = 0


@dataclass(frozen=True)
class Member:
    """One photo of a group and why it is there."""

    photo_id: int
    path: str
    why: str  # "the same file", "looks the same (hash 3 bits apart), taken 2 s apart"


@dataclass(frozen=True)
class Group:
    """Photos that are one picture; `keep` is the one to keep, `why` says why."""

    kind: str  # "exact" (every member the same file) or "near"
    keep: int  # photo id
    why: str
    members: tuple[Member, ...] = field(default_factory=tuple)

    def to_json(self) -> dict:
        """The group as JSON-ready data."""
        return {
            "kind": self.kind,
            "keep": self.keep,
            "why": self.why,
            "photos": [{"id": m.photo_id, "path": m.path, "why": m.why} for m in self.members],
        }


@dataclass(frozen=True)
class Rules:
    """The thresholds of rules 2 and 3 (from the settings)."""

    phash_max_bits: int
    max_seconds: float
    same_second_bits: int
    clip_min_cosine: float


def perceptual_hash(img: Image.Image) -> int:
    """The 64-bit DCT perceptual hash (imagehash's pHash) of a picture."""
    import imagehash

    bits = imagehash.phash(img).hash.flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def sharpness(img: Image.Image) -> float:
    """How sharp a picture is: the variance of its Laplacian on a grey copy (at most 512 px
    long, so copies of one picture at different sizes compare fairly)."""
    grey = img.convert("L")
    grey.thumbnail((512, 512))
    a = np.asarray(grey, dtype=np.float32)
    if a.shape[0] < 3 or a.shape[1] < 3:
        return 0.0
    lap = a[1:-1, :-2] + a[1:-1, 2:] + a[:-2, 1:-1] + a[2:, 1:-1] - 4 * a[1:-1, 1:-1]
    return float(lap.var())


def find_groups(
    looks: Sequence[Look],
    rules: Rules,
    vectors: dict[int, np.ndarray] | None = None,
) -> list[Group]:
    """Groups of exact copies and near-duplicates among `looks`, biggest first."""
    n = len(looks)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        parent[root(i)] = root(j)

    first_of: dict[str, int] = {}
    for i, look in enumerate(looks):
        if look.content in first_of:
            join(i, first_of[look.content])
        else:
            first_of[look.content] = i
    for i, j, _bits in near_pairs(looks, rules, vectors):
        join(i, j)
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(root(i), []).append(i)
    groups = [_group([looks[i] for i in idx], rules) for idx in members.values() if len(idx) > 1]
    return sorted(groups, key=lambda g: (-len(g.members), g.members[0].path))


def near_pairs(
    looks: Sequence[Look], rules: Rules, vectors: dict[int, np.ndarray] | None = None
) -> list[tuple[int, int, int]]:
    """(i, j, bits apart) of every pair that rule 2 (and the veto of rule 3) calls the same
    picture, i < j; exact copies are not repeated here."""
    if len(looks) < 2:
        return []
    hashes = np.array([look.phash for look in looks], dtype=np.uint64)
    out: list[tuple[int, int, int]] = []
    step = 1024
    for start in range(0, len(looks), step):
        block = hashes[start : start + step]
        bits = np.bitwise_count(block[:, None] ^ hashes[None, :])
        loosest = max(rules.phash_max_bits, rules.same_second_bits)
        for a, j in zip(*np.nonzero(bits <= loosest), strict=True):
            i = start + int(a)
            j = int(j)
            if j <= i or looks[i].content == looks[j].content:
                continue
            if not _same_moment(looks[i], looks[j], int(bits[a, j]), rules):
                continue
            if vectors and _vetoed(looks[i], looks[j], vectors, rules.clip_min_cosine):
                continue
            out.append((i, j, int(bits[a, j])))
    return out


def seconds_apart(a: Look, b: Look) -> float | None:
    """How far apart two photos were taken, when both times were stated by the camera."""
    if not (a.stated_time and b.stated_time and a.taken_at and b.taken_at):
        return None
    try:
        gap = datetime.fromisoformat(a.taken_at) - datetime.fromisoformat(b.taken_at)
    except ValueError:
        return None
    return abs(gap.total_seconds())


def hash_bits(a: Look, b: Look) -> int:
    """How many of the 64 perceptual-hash bits two photos differ in."""
    return int(np.bitwise_count(np.uint64(a.phash) ^ np.uint64(b.phash)))


def _same_moment(a: Look, b: Look, bits: int, rules: Rules) -> bool:
    """Rule 2: close pictures taken close in time, or looser pictures of the same second."""
    apart = seconds_apart(a, b)
    if bits <= rules.phash_max_bits:
        return apart is None or apart <= rules.max_seconds
    return apart is not None and apart < 1 and bits <= rules.same_second_bits


def _vetoed(a: Look, b: Look, vectors: dict[int, np.ndarray], min_cosine: float) -> bool:
    va, vb = vectors.get(a.photo_id), vectors.get(b.photo_id)
    if va is None or vb is None:
        return False
    cosine = float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb) + 1e-12))
    return cosine < min_cosine


def _rank(look: Look) -> tuple:
    return (-look.named_faces, -look.pixels, -look.sharpness, -look.size, look.path)


def _group(looks: list[Look], rules: Rules) -> Group:
    ordered = sorted(looks, key=_rank)
    keep = ordered[0]
    exact = len({look.content for look in looks}) == 1
    members = tuple(
        Member(look.photo_id, look.path, _member_why(keep, look, rules)) for look in ordered
    )
    return Group("exact" if exact else "near", keep.photo_id, _keep_why(ordered, exact), members)


def _member_why(keep: Look, look: Look, rules: Rules) -> str:
    if look.photo_id == keep.photo_id:
        return "the one to keep"
    if look.content == keep.content:
        return "the same file content"
    bits = hash_bits(keep, look)
    why = f"looks the same ({bits} of 64 hash bits differ)"
    apart = seconds_apart(keep, look)
    if apart is not None:
        why += f", taken {apart:.0f} s apart"
    return why


def _keep_why(ordered: list[Look], exact: bool) -> str:
    """Which rule chose the first photo over the second."""
    keep, other = ordered[0], ordered[1]
    if exact:
        return "identical files: any one will do (kept the first by path)"
    if keep.named_faces > other.named_faces:
        return f"the most named people ({keep.named_faces})"
    if keep.pixels > other.pixels:
        return f"the largest ({keep.pixels / 1e6:.1f} MP)"
    if keep.sharpness > other.sharpness:
        return "the sharpest"
    if keep.size > other.size:
        return f"the biggest file ({keep.size / 1e6:.1f} MB)"
    return "as good as the others (kept the first by path)"


def refresh_looks(catalog: Catalog, settings: Settings, progress: Progress | None = None) -> int:
    """Make the perceptual hash and sharpness of every photo that lacks them (from its cached
    thumbnail, else from the file); returns how many were made. A photo that cannot be read
    now is left out of the duplicates until it can."""
    todo = catalog.photos_without_looks()
    progress = progress or (lambda done, total, what: None)
    made = 0
    for start in range(0, len(todo), LOOKS_BATCH):
        batch = todo[start : start + LOOKS_BATCH]
        looks = [(row, _picture(catalog, settings, row)) for row in batch]
        with catalog.transaction():
            for row, img in looks:
                if img is not None:
                    catalog.put_look(
                        row["id"],
                        row["hash"],
                        perceptual_hash(img),
                        sharpness(img),
                    )
                    made += 1
        progress(start + len(batch), len(todo), "comparing photos")
    return made


def library_groups(
    catalog: Catalog,
    settings: Settings,
    vectors: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[Group]:
    """The duplicate groups of a catalogued library (hashes made by `refresh_looks`);
    `vectors` are its CLIP (ids, vectors), which may veto a near pair."""
    looks = [
        Look(
            photo_id=r["id"],
            path=r["path"],
            content=r["hash"],
            phash=r["phash"],
            sharpness=r["sharpness"],
            pixels=(r["width"] or 0) * (r["height"] or 0),
            size=r["size"],
            taken_at=r["taken_at"],
            stated_time=r["taken_source"] in STATED_SOURCES,
            named_faces=r["named_faces"],
        )
        for r in catalog.looks()
    ]
    rules = Rules(
        phash_max_bits=settings.dup_phash_max_bits,
        max_seconds=settings.dup_max_seconds,
        same_second_bits=settings.dup_same_second_bits,
        clip_min_cosine=settings.dup_clip_min_cosine,
    )
    by_id = dict(zip(vectors[0].tolist(), vectors[1], strict=True)) if vectors else None
    return find_groups(looks, rules, by_id or None)


def _picture(catalog: Catalog, settings: Settings, row: dict) -> Image.Image | None:
    thumb = layout.thumbnail_path(catalog.data_dir, row["hash"])
    try:
        if thumb.exists():
            with Image.open(thumb) as img:
                return img.convert("RGB")
        data = scan.read_bytes(os.fsdecode(row["path_raw"]))
        return scan.decode(data, settings, row["hash"], settings.thumb_size, name=row["path"]).image
    except (scan.Unreadable, OSError):
        return None  # gone or damaged since indexing: the next `index` says so
