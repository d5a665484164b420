"""Videos or photos, and how long: "videos of Alice", "only photos", "short videos",
"videos longer than a minute". The words are prompts/parser.toml's [media] section.

A parser step like the others (see state.Parse): it claims the words it understood, so
they never reach CLIP as a description.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache

from assistant.query.lexicon import Phrases
from assistant.query.state import Parse
from index.settings import PROMPTS_DIR


@dataclass(frozen=True)
class Media:
    """What a query says about the kind and length of what it wants."""

    kind: str | None = None  # "video", "photo" or None (both)
    min_seconds: float | None = None
    max_seconds: float | None = None


@dataclass(frozen=True)
class _Words:
    video: Phrases
    only_photos: Phrases
    short: Phrases
    long: Phrases
    longer_than: Phrases
    shorter_than: Phrases
    units: dict[str, float]
    numbers: dict[str, int]
    short_seconds: float
    long_seconds: float


@cache
def _words() -> _Words:
    raw = tomllib.loads((PROMPTS_DIR / "parser.toml").read_text(encoding="utf-8"))
    media = raw["media"]

    def phrases(key: str) -> Phrases:
        return Phrases(tuple(p.lower().split()) for p in media[key])

    numbers = {**raw["numbers"], "a": 1, "an": 1}
    return _Words(
        video=phrases("video"),
        only_photos=phrases("only_photos"),
        short=phrases("short"),
        long=phrases("long"),
        longer_than=phrases("longer_than"),
        shorter_than=phrases("shorter_than"),
        units=dict(media["units"]),
        numbers=numbers,
        short_seconds=float(media["short_seconds"]),
        long_seconds=float(media["long_seconds"]),
    )


def read_media(st: Parse) -> Media:
    """Claim the words saying videos or photos only and how long; what they say."""
    lex = _words()
    w = st.tokens
    kind, low, high = None, None, None
    for i in range(len(w)):
        if st.claims[i] is not None:
            continue
        n = lex.only_photos.at(w, i)
        if n and st.free(i, i + n):
            st.claim(i, i + n, "media")
            kind = "photo"
            continue
        n = lex.video.at(w, i)
        if n and st.free(i, i + n):
            st.claim(i, i + n, "media")
            kind = "video"
            if lex.short.before(w, i) and st.free(i - 1, i):
                st.claim(i - 1, i, "media")
                high = lex.short_seconds
            elif lex.long.before(w, i) and st.free(i - 1, i):
                st.claim(i - 1, i, "media")
                low = lex.long_seconds
            if i > 0 and w[i - 1] in ("only", "just") and st.free(i - 1, i):
                st.claim(i - 1, i, "media")
    for i in range(len(w)):
        for phrases, bound in ((lex.longer_than, "low"), (lex.shorter_than, "high")):
            n = phrases.at(w, i)
            if not n or not st.free(i, i + n):
                continue
            seconds, used = _length(w, i + n, lex)
            if seconds is None or not st.free(i + n, i + n + used):
                continue
            st.claim(i, i + n + used, "media")
            kind = kind or "video"
            if bound == "low":
                low = seconds
            else:
                high = seconds
    return Media(kind, low, high)


def _length(w: list[str], i: int, lex: _Words) -> tuple[float | None, int]:
    """(seconds, tokens used) of "a minute", "10 seconds", "two minutes" at w[i]."""
    if i + 1 >= len(w) or w[i + 1] not in lex.units:
        return None, 0
    word = w[i]
    count = float(word) if word.replace(".", "", 1).isdigit() else lex.numbers.get(word)
    if count is None:
        return None, 0
    return float(count) * lex.units[w[i + 1]], 2
