"""Plain English -> `Query`: who is in the photo, when, where, what it looks like, how many.

`QueryParser.parse` runs its steps in order over one `Parse` (see `state.py`): each step
claims the tokens it understands; whatever nobody claimed is the description for CLIP.
The words each step knows live in prompts/parser.toml (`lexicon.py`); dates are read by
`dates.py`, names and places by `names.py`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from assistant.query import lexicon
from assistant.query.dates import read_dates
from assistant.query.lexicon import Lexicon
from assistant.query.media import read_media
from assistant.query.names import assign_roles, build_known, read_known, read_typos, read_unknown
from assistant.query.state import Known, Parse
from assistant.query.written import read_written
from index.settings import Settings
from index.types import Query

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
# Bytes that were not UTF-8 (a terminal in another encoding) arrive as lone surrogates,
# which spaCy cannot hash: they become the replacement character.
_SURROGATES = re.compile("[\ud800-\udfff]")


def _normalise(text: str, max_chars: int) -> str:
    """Unicode-normalised, curly quotes straightened, whitespace collapsed, cut to max_chars."""
    text = _SURROGATES.sub("\ufffd", text[: max_chars * 4])
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = " ".join(text.split())
    if len(text) > max_chars:  # cut at a word boundary, so no half word reaches the parser
        cut = text[: max_chars + 1]
        text = cut.rsplit(" ", 1)[0] if " " in cut else cut[:max_chars]
    return text


# French elision: "d'Alice", "l'été" are two words ("d'" joins a person, "l'" a date).
_ELISION = re.compile(r"(?i)\b(d|l|qu|j)'(?=\w)")


def _reordered(text: str, lex: Lexicon) -> str:
    """Elisions split, and a "last" written after its season, month or unit put before it
    ("l'été dernier" -> "l' dernier été"), so every language reads the same way on."""
    text = _ELISION.sub(r"\1' ", text)
    if not lex.last_after:
        return text
    words = text.split(" ")
    dated = set(lex.seasons) | set(lex.months) | set(lex.units)
    for k in range(1, len(words)):
        if words[k].lower() in lex.last_after and words[k - 1].lower() in dated:
            words[k - 1], words[k] = words[k], words[k - 1]
    return " ".join(words)


def _resolve_now(now: datetime | Callable[[], datetime] | None) -> datetime:
    """The reference time for relative dates, as naive local time."""
    value = now() if callable(now) else now or datetime.now()
    return value.replace(tzinfo=None)


class QueryParser:
    """Turns one English sentence into a `Query`, knowing the library's people and places."""

    def __init__(
        self,
        people: Mapping[str, Sequence[str]] = {},  # noqa: B006 - read only, never mutated
        places: Sequence[str] = (),
        now: datetime | Callable[[], datetime] | None = None,
        settings: Settings | None = None,
    ):
        """people: display name -> aliases; places: place names in the library; now: for dates."""
        self._now = now
        self._settings = settings or Settings()
        self._people: dict[str, tuple[str, ...]] = {}
        self._places: tuple[str, ...] = ()
        self._known: Known | None = None  # built on first parse, rebuilt after update()
        self._known_engine: object = None  # the spaCy engine it was built with
        self.update(people, places)

    def update(
        self, people: Mapping[str, Sequence[str]] | None = None, places: Sequence[str] | None = None
    ) -> None:
        """Replace the known people and/or places; the matcher is rebuilt on the next parse."""
        if people is not None:
            self._people = {
                str(name).strip(): tuple(str(a).strip() for a in aliases if str(a).strip())
                for name, aliases in people.items()
                if str(name).strip()
            }
        if places is not None:
            self._places = tuple(dict.fromkeys(str(p).strip() for p in places if str(p).strip()))
        self._known = None

    def parse(self, text: str) -> Query:
        """The structured query for one sentence; never raises on odd input."""
        raw = text if isinstance(text, str) else ""
        clean = _normalise(raw, self._settings.query_max_chars)
        if not any(ch.isalnum() for ch in clean):
            return Query(raw=raw)
        engine = lexicon.engine()
        known = self._known
        # Read once: an update() meanwhile affects the next parse only. Rebuilt too when spaCy
        # was dropped while idle and loaded again (its matchers belong to one vocabulary).
        if known is None or self._known_engine is not engine:
            self._known_engine = engine
            known = self._known = build_known(engine, self._people, self._places)
        doc = engine.nlp(_reordered(clean, engine.lex))
        tokens = [t.lower_ for t in doc]
        st = Parse(doc, tokens, known)
        lex = engine.lex
        now = _resolve_now(self._now)

        # The steps, in order: each claims the tokens it understands (see state.Parse).
        self._strip_request(st, lex)
        written = read_written(st, lex)
        media = read_media(st)
        dates = read_dates(st, lex, now, known.people)
        limit = self._read_limit(st, lex)
        self._strip_photo_words(st, lex)
        only = self._read_only_anywhere(st, lex)
        mentions, places = read_known(st, engine)
        mentions += read_typos(st, engine, self._settings)
        self._drop_self(st, lex)
        mentions += read_unknown(st, engine)
        mentions.sort(key=lambda m: m.start)
        only = assign_roles(st, lex, mentions) or only
        named = [m for m in mentions if m.name]

        def pick(role: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(m.name for m in named if m.role == role))

        return Query(
            raw=raw,
            text=self._remainder(st, lex),
            people_all=pick("all"),
            people_any=pick("any"),
            people_none=pick("none"),
            only=only and bool(pick("all") or pick("any")),
            unknown_names=tuple(
                dict.fromkeys(m.text for m in mentions if not m.name and not m.choices)
            ),
            ambiguous=tuple(dict.fromkeys((m.text, m.choices) for m in mentions if m.choices)),
            dates=dates,
            places=tuple(dict.fromkeys(places)),
            limit=limit,
            words=written,
            media=media.kind,
            min_seconds=media.min_seconds,
            max_seconds=media.max_seconds,
        )

    # -- steps, in the order parse() runs them

    def _read_limit(self, st: Parse, lex: Lexicon) -> int | None:
        """How many photos the user wants: "top 10", "5 photos", "a photo of"; None if unsaid."""
        w = st.tokens
        for i in range(len(w)):
            if st.claims[i] is not None:
                continue
            n = lex.limit_before.at(w, i)
            ok = n and i + n < len(w) and st.free(i, i + n + 1)
            value = self._count(w[i + n], lex) if ok else None
            if value:  # "top 10"; "last 5 days" was read as a date already
                st.claim(i, i + n + 1, "limit")
                return value
            n = lex.limit_one.at(w, i)
            if n and st.free(i, i + n) and self._is_photo_word(st, lex, i + n):
                st.claim(i, i + n, "limit")
                return 1
            value = self._count(w[i], lex)
            if value and self._is_photo_word(st, lex, i + 1):
                st.claim(i, i + 1, "limit")
                return value
        return None

    @staticmethod
    def _count(word: str, lex: Lexicon) -> int | None:
        """A small positive count written in digits or words; None otherwise."""
        value = int(word) if word.isdigit() and len(word) <= 3 else lex.numbers.get(word)
        return value if value and value > 0 else None

    @staticmethod
    def _is_photo_word(st: Parse, lex: Lexicon, i: int) -> bool:
        """A photo noun that means "photo", not the first half of "photo booth"."""
        if i >= len(st.tokens) or st.tokens[i] not in lex.photo_nouns:
            return False
        nxt = st.doc[i + 1] if i + 1 < len(st.doc) else None
        return not (nxt is not None and nxt.pos_ == "NOUN" and nxt.lower_ not in lex.all_words)

    def _strip_request(self, st: Parse, lex: Lexicon) -> None:
        """Remove "show me", "can you find", "please" ... at the start of the query."""
        while True:
            i = st.first_content()
            n = lex.request.at(st.tokens, i)
            if not n:
                return
            st.claim(0, i + n, "filler")

    def _strip_photo_words(self, st: Parse, lex: Lexicon) -> None:
        """Remove "photos of", "all the pictures", "please" wherever they are."""
        w = st.tokens
        for i in range(len(w)):
            n = lex.anywhere.at(w, i)
            if n and st.free(i, i + n):
                st.claim(i, i + n, "filler")
            if st.claims[i] is None and self._is_photo_word(st, lex, i):
                st.claim(i, i + 1, "filler")
                st.absorb_before(i, lex.determiners, "filler")
                if i + 1 < len(w) and w[i + 1] == "of" and st.claims[i + 1] is None:
                    st.claim(i + 1, i + 2, "filler")

    @staticmethod
    def _drop_self(st: Parse, lex: Lexicon) -> None:
        """Drop "me"/"myself" when nobody is enrolled under them: CLIP cannot see the user."""
        for i, word in enumerate(st.tokens):
            if word in lex.self_words and st.claims[i] is None:
                st.claim(i, i + 1, "filler")

    def _read_only_anywhere(self, st: Parse, lex: Lexicon) -> bool:
        """True for "nobody else", "no one else": the named people and no one besides."""
        found = False
        for i in range(len(st.tokens)):
            n = lex.only_anywhere.at(st.tokens, i)
            if n and st.free(i, i + n):
                st.claim(i, i + n, "only")
                found = True
        return found

    def _remainder(self, st: Parse, lex: Lexicon) -> str:
        """The unclaimed tokens, tidied: no dangling "and"/"with"/commas at either end."""
        doc = st.doc
        keep = [k for k in range(len(doc)) if st.claims[k] is None]
        while keep and (doc[keep[0]].is_punct or st.tokens[keep[0]] in lex.dangling_start):
            keep.pop(0)
        while keep and (doc[keep[-1]].is_punct or st.tokens[keep[-1]] in lex.dangling_end):
            keep.pop()
        out = []
        for n, k in enumerate(keep):
            if n and k != keep[n - 1] + 1:
                out.append(" ")
            elif n:
                out.append(doc[keep[n - 1]].whitespace_)
            out.append(doc[k].text)
        text = re.sub(r"\s+([,.;:!?])", r"\1", "".join(out))
        return " ".join(re.sub(r"([,;])(\s*[,;])+", r"\1", text).split())


def parse_query(
    text: str,
    people: Mapping[str, Sequence[str]] = {},  # noqa: B006 - read only, never mutated
    places: Sequence[str] = (),
    now: datetime | Callable[[], datetime] | None = None,
) -> Query:
    """One-off parse; build a QueryParser instead when parsing many queries."""
    return QueryParser(people, places, now).parse(text)
