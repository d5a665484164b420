"""What search says, in words: the notes about a result and the reasons under each hit.

The wording lives in prompts/search.toml; this module fills it in. Nothing here ranks or
reads the catalog: it is handed what was found and puts it into words.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from functools import cache

from index.capture_dates import UNCERTAIN
from index.folding import fold
from index.settings import PROMPTS_DIR
from index.types import Face, PersonMatch, Photo, Query

WORDS_FILE = PROMPTS_DIR / "search.toml"


@cache
def words() -> dict[str, dict[str, str]]:
    """The notes and reasons of prompts/search.toml."""
    return tomllib.loads(WORDS_FILE.read_text(encoding="utf-8"))


def note(key: str, **kw) -> str:
    """A user-facing note from prompts/search.toml, filled in."""
    return words()["notes"][key].format(**kw)


def reason(key: str, **kw) -> str:
    """A hit's reason from prompts/search.toml, filled in."""
    return words()["reasons"][key].format(**kw)


def phrase(key: str, **kw) -> str:
    """A piece of the filters put in words (prompts/search.toml [describe]), filled in."""
    return words()["describe"][key].format(**kw)


def clip_mismatch(vector_models: Mapping[str, int], spec: str) -> str | None:
    """A message when the library's image vectors came from models other than `spec`."""
    models = {m: n for m, n in vector_models.items() if m != spec}
    if not models:
        return None
    old = ", ".join(f"{m} ({n} photos)" for m, n in models.items())
    return (
        f"This library's image vectors were made with {old}, not {spec}. "
        "Vectors of two models are never mixed: run `python app.py index FOLDER "
        f"--clip {spec} --reembed` to re-embed every photo with the new model, "
        "or leave out --clip to keep the old one."
    )


def no_vectors(vector_models: Mapping[str, int], spec: str) -> str:
    """Why a description cannot rank anything: no vectors of this model (or of another one)."""
    mismatch = clip_mismatch(vector_models, spec)
    if mismatch:
        return note("model_mismatch", message=mismatch)
    return note("no_vectors", model=spec)


def hit_reasons(
    row: Photo,
    matches: Sequence[PersonMatch],
    faces: Sequence[Face],
    query: Query,
    score: float,
    text: str = "",
    like: str | None = None,
    read: Sequence[str] = (),
) -> tuple[str, ...]:
    """Why one photo is in the result: matched faces, the description or example photo
    (`like`: its name), the date and the place that passed the filters, and the lines of
    text `read` in it that show the words asked for."""
    why = [person_reason(m, faces) for m in matches]
    if like is not None and text:
        why.append(reason("like_text", name=like, text=text, score=score))
    elif like is not None:
        why.append(reason("like", name=like, score=score))
    elif text:
        why.append(reason("text", text=text, score=score))
    if query.dates is not None and row["taken_at"]:
        date = row["taken_at"][:10]
        label = query.dates.label
        source = date_note(row["taken_at"], row["taken_source"])
        why.append(
            reason("date_in", date=date, label=label, source=source)
            if label
            else reason("date", date=date, source=source)
        )
    if query.places and row["place"]:
        why.append(reason("place", place=row["place"]))
    if query.words and read:
        why.append(reason("written", text=" · ".join(lines_with(query.words, read))))
    return tuple(why)


def date_note(taken_at: str | None, source: str | None) -> str:
    """Where a photo's date came from, in words ("from the file name"); "" when undated."""
    if not taken_at:
        return ""
    return words()["date_sources"].get(source or UNCERTAIN, "")


def lines_with(phrases: Sequence[str], lines: Sequence[str], most: int = 2) -> list[str]:
    """The lines of text that show the phrases (a phrase across two lines: its first word)."""
    folded = [f" {fold(line)} " for line in lines]
    keys = [k for k in (fold(p) for p in phrases) if k]
    picked = [ln for ln, f in zip(lines, folded, strict=True) if any(f" {k} " in f for k in keys)]
    if not picked:
        firsts = [k.split()[0] for k in keys]
        picked = [
            ln for ln, f in zip(lines, folded, strict=True) if any(f" {w} " in f for w in firsts)
        ]
    return list(picked or lines)[:most]


def person_reason(match: PersonMatch, faces: Sequence[Face]) -> str:
    """ "Alice (face 2, distance 0.31)": which face of the photo, and how sure."""
    index = next(i for i, f in enumerate(faces, start=1) if f["id"] == match.face_id)
    face = faces[index - 1]
    if face["source"] == "user":
        return reason("person_user", name=match.name, index=index)
    return reason("person", name=match.name, index=index, distance=match.distance)


def names_and(names: Sequence[str]) -> str:
    """ "Alice, Bob and Carol"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + phrase("and") + names[-1]


def describe(
    query: Query,
    names: Mapping[int, str],
    all_of: Sequence[int] = (),
    any_of: Sequence[int] = (),
    none_of: Sequence[int] = (),
) -> str:
    """The filters in words, for notes: "Alice and Bob, summer 2019, in Paris"."""
    either = phrase("or")
    parts = []
    if all_of:
        who = names_and([names[p] for p in all_of])
        parts.append(phrase("only", who=who) if query.only else who)
    if any_of:
        parts.append(either.join(names[p] for p in any_of))
    if none_of:
        parts.append(phrase("without", who=either.join(names[p] for p in none_of)))
    if query.dates is not None:
        d = query.dates
        span = phrase("dates", start=d.start.date().isoformat(), end=d.end.date().isoformat())
        parts.append(d.label or span)
    if query.places:
        parts.append(phrase("places", places=either.join(query.places)))
    return ", ".join(parts) or phrase("anything")


def short(text: str, limit: int = 60) -> str:
    """The start of a long text, for quoting it back to the user."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
