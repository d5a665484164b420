"""What the assistant answers, as plain data: `Reply`, `Picture`, and the `Wording` it is made of.

A `Reply` is frozen data the UI only renders. Everything a user typed (a name, a query, a
file name) is escaped when it is put into a reply (`Wording.say` escapes every value it fills
in unless the value is marked `Md`, i.e. already-safe Markdown built from the templates).
"""

from __future__ import annotations

import html
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.settings import PROMPTS_DIR
from index.types import Hit, Query

PROMPTS = PROMPTS_DIR

# Markdown's inline specials; `<`, `>` and `&` become entities so no typed tag ever renders.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}|~#])")


class Md(str):
    """Text that is already safe Markdown (made from templates and escaped values)."""


def escape(text: Any) -> str:
    """User text made inert for the chat's Markdown and HTML: shown exactly as typed."""
    if isinstance(text, Md):
        return text
    escaped = html.escape(str(text), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", escaped)


@dataclass(frozen=True)
class Picture:
    """One numbered picture in a reply: a photo of the library or a face to pick."""

    number: int  # what the user types to refer to it ("photo 3", "person 2")
    image: str | None  # file to show (thumbnail, face crop or photo)
    caption: str  # plain text (the UI escapes it)
    photo_id: int | None = None
    person_id: int | None = None
    details: str = ""  # Markdown for the larger view: date, place, people, why it matched
    path: str | None = None  # the photo's own file (a library photo), absolute
    clip_at: float | None = None  # a video: seconds into it of the moment shown (plays from)


@dataclass(frozen=True)
class Reply:
    """What the assistant answers to one message; the UI renders it and nothing else."""

    text: str  # Markdown; user text in it is escaped
    photos: tuple[Picture, ...] = ()
    faces: tuple[Picture, ...] = ()
    changes: tuple[str, ...] = ()  # what changed in the library, in words
    people_changed: bool = False  # the people panel should be refreshed
    intent: str = ""
    query: Query | None = None  # the search behind `photos`, when there was one
    turn: int = 0  # the session's message number: the UI's key for clicks on its pictures


class Wording:
    """What the assistant says and understands besides searches, from `prompts/`: reply
    templates, intent patterns and help text. (Not "words": those are written in a photo.)"""

    def __init__(self, folder: Path = PROMPTS):
        self.replies = tomllib.loads((folder / "replies.toml").read_text(encoding="utf-8"))
        self.intents = tomllib.loads((folder / "intents.toml").read_text(encoding="utf-8"))
        self.help = (folder / "help.md").read_text(encoding="utf-8")
        self.help_guest = (folder / "help_guest.md").read_text(encoding="utf-8")
        self.positions = self.intents["positions"]
        self.refine = self.intents["refine"]

    def say(self, section: str, key: str, **values: Any) -> Md:
        """One reply template filled in; every value is escaped unless it is `Md`."""
        safe = {k: v if isinstance(v, int | float) else escape(v) for k, v in values.items()}
        return Md(self.replies[section][key].format(**safe))

    def plain(self, section: str, key: str, **values: Any) -> str:
        """One template filled in without Markdown escaping (captions the UI escapes itself)."""
        return self.replies[section][key].format(**values)


def plural(n: int, one: str, many: str) -> str:
    """`one` or `many` by count."""
    return one if n == 1 else many


def join(parts: list[str], sep: str = "; ") -> Md:
    """Already-safe pieces joined into one safe piece."""
    return Md(sep.join(escape(p) for p in parts))


def unnamed(label: str | None, person_id: int | None) -> bool:
    """Whether a library label is no name: none, or an unnamed group's "person 7"."""
    return (
        not label or person_id is None or " ".join(label.lower().split()) == f"person {person_id}"
    )


def hit_picture(number: int, hit: Hit, wording: Wording, names: list[str] | None = None) -> Picture:
    """A numbered gallery picture for one hit: a short caption, and the larger view's text.

    `names` are every named person in the photo (else the people the search matched).
    """
    date = (hit.taken_at or "")[:10]
    if date and hit.date_uncertain:
        date = wording.plain("picture", "date_uncertain", date=date)
    file = Path(hit.path).name
    matched = [p.name for p in hit.people if not unnamed(p.name, p.person_id)]
    names = list(dict.fromkeys([*matched, *(names or [])]))
    bits = " · ".join(b for b in (date, hit.place, ", ".join(names)) if b)
    caption = (
        wording.plain("picture", "caption", number=number, bits=bits)
        if bits
        else wording.plain("picture", "caption_file", number=number, file=file)
    )
    lines = [wording.say("picture", "title", number=number, file=file)]
    if hit.taken_at:
        date_text = hit.taken_at.replace("T", " ")
        lines.append(wording.say("picture", "date", date=date_text, source=hit.date_note))
    if hit.place:
        lines.append(wording.say("picture", "place", place=hit.place))
    if names:
        lines.append(wording.say("picture", "people", names=", ".join(names)))
    if hit.reasons:
        lines.append(wording.say("picture", "why", reasons="; ".join(hit.reasons)))
    if hit.words:
        lines.append(wording.say("picture", "words", words=" · ".join(hit.words)))
    if hit.kind == "video":
        at = clock(hit.time_s or 0.0)
        caption = wording.plain("picture", "video_caption", at=at, caption=caption)
        lines.insert(1, wording.say("picture", "video_moment", at=at))
    return Picture(
        number=number,
        image=hit.thumbnail or hit.path,
        caption=caption,
        photo_id=hit.photo_id,
        details="\n".join(lines),
        path=str(Path(hit.path).resolve()),
        clip_at=hit.time_s if hit.kind == "video" else None,
    )


def clock(seconds: float) -> str:
    """Seconds as a video player shows them: 0:07, 1:02:05."""
    s = int(seconds)
    h, m, s = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
