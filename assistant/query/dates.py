"""Date expressions in a tokenised query -> a time span: "summer 2019", "last year", "the 90s".

`DateReader` finds one expression at a token and resolves it against "now"; `read_dates`
is the parser step that claims every expression and combines them into one `DateRange`.
Calendar arithmetic is python-dateutil's (`relativedelta`, `easter`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from dateutil.easter import easter
from dateutil.relativedelta import TH, relativedelta

from assistant.query.lexicon import Lexicon
from assistant.query.state import Parse
from index.types import DateRange

# Open ends of "before 2015" / "since 2020": far enough to hold any photo's clock.
DISTANT_PAST = datetime(1800, 1, 1)
DISTANT_FUTURE = datetime(3000, 1, 1)


@dataclass(frozen=True)
class When:
    """A resolved date expression; `anchor` re-resolves it in another year ("June" -> 2019)."""

    start: datetime
    end: datetime
    anchor: Callable[[int], tuple[datetime, datetime]] | None = None
    year: int | None = None  # the year the user wrote, if any

    def in_year(self, year: int) -> When:
        """The same month/season/holiday in `year`, when it has no year of its own."""
        if self.anchor is None or self.year is not None:
            return self
        return When(*self.anchor(year), anchor=self.anchor, year=year)


def _month_span(start_month: int, months: int) -> Callable[[int], tuple[datetime, datetime]]:
    """Anchor for a month or season beginning in `start_month` and lasting `months`."""

    def anchor(year: int) -> tuple[datetime, datetime]:
        start = datetime(year, start_month, 1)
        return start, start + relativedelta(months=months)

    return anchor


def _day_span(month: int, day: int, before: int, days: int) -> Callable[[int], tuple]:
    """Anchor for a fixed-date holiday."""

    def anchor(year: int) -> tuple[datetime, datetime]:
        start = datetime(year, month, day) - timedelta(days=before)
        return start, start + timedelta(days=days)

    return anchor


def _easter(year: int) -> tuple[datetime, datetime]:
    """Easter weekend (Saturday to Monday), Western Easter."""
    sunday = datetime.combine(easter(year), datetime.min.time())
    return sunday - timedelta(days=1), sunday + timedelta(days=2)


def _thanksgiving(year: int) -> tuple[datetime, datetime]:
    """US Thanksgiving (fourth Thursday of November) through its weekend."""
    thursday = datetime(year, 11, 1) + relativedelta(weekday=TH(+4))
    return thursday, thursday + timedelta(days=4)


_MOVABLE = {"easter": _easter, "thanksgiving": _thanksgiving}


def _most_recent(anchor: Callable[[int], tuple], now: datetime, *, ended: bool) -> When:
    """The latest occurrence that has begun (or, with `ended`, finished) by `now`."""
    for year in range(now.year + 1, now.year - 3, -1):
        start, end = anchor(year)
        if start <= now and (end <= now or not ended):
            return When(start, end, anchor)
    return When(*anchor(now.year - 1), anchor)


def _upcoming(anchor: Callable[[int], tuple], now: datetime) -> When:
    """The first occurrence that begins after `now` ("next summer")."""
    for year in (now.year, now.year + 1):
        start, end = anchor(year)
        if start > now:
            return When(start, end, anchor)
    return When(*anchor(now.year + 2), anchor)


def _current(anchor: Callable[[int], tuple], now: datetime) -> When:
    """The occurrence containing `now`, else this calendar year's ("this winter")."""
    for year in (now.year - 1, now.year):
        start, end = anchor(year)
        if start <= now < end:
            return When(start, end, anchor)
    return When(*anchor(now.year), anchor)


class DateReader:
    """Finds date expressions in one tokenised query and resolves them against `now`."""

    def __init__(
        self,
        lex: Lexicon,
        tokens: list[str],
        titles: list[bool],
        now: datetime,
        names: frozenset[str],
        pos: list[str],
    ):
        self.lex, self.w, self.titles, self.now, self.names, self.pos = (
            lex,
            tokens,
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

    def atom(self, i: int) -> tuple[int, When] | None:
        """One date expression without range words: "June 2019", "last summer", "the 90s"."""
        for reader in (self._decade, self._iso, self._relative, self._ago, self._named):
            found = reader(i)
            if found:
                return found
        found = self._year(i)
        if found:
            j, year = found
            return j, When(datetime(year, 1, 1), datetime(year + 1, 1, 1), year=year)
        return None

    def _decade(self, i: int) -> tuple[int, When] | None:
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
        return j + 1, When(datetime(start, 1, 1), datetime(start + 10, 1, 1), year=start)

    def _iso(self, i: int) -> tuple[int, When] | None:
        w = self.w
        if not (i + 4 < len(w) and self._year(i) and w[i + 1] == w[i + 3] == "-"):
            return None
        if not (w[i + 2].isdigit() and w[i + 4].isdigit()):
            return None
        try:
            day = datetime(int(w[i]), int(w[i + 2]), int(w[i + 4]))
        except ValueError:
            return None
        return i + 5, When(day, day + timedelta(days=1), year=day.year)

    def _relative(self, i: int) -> tuple[int, When] | None:
        lex, now, today = self.lex, self.now, self.today
        for phrases, day in ((lex.today, today), (lex.yesterday, today - timedelta(days=1))):
            n = phrases.at(self.w, i)
            if n:
                return i + n, When(day, day + timedelta(days=1))
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
            return end_i + 1, When(start, today + timedelta(days=1))
        unit = self._unit(j)
        if unit and rolling:  # "past week": the last 7 days, not last calendar week
            return j + 1, When(self._minus(today, unit, 1), today + timedelta(days=1))
        if unit == "weekend":
            saturday = today + timedelta(days=5 - today.weekday())
            if n_last and saturday + timedelta(days=2) > now:  # the latest weekend that is over
                saturday -= timedelta(days=7)
            if n_next and saturday <= today:  # the weekend after the one under way
                saturday += timedelta(days=7)
            return j + 1, When(saturday, saturday + timedelta(days=2))
        if unit:
            start, end = self._calendar(unit, today)
            if n_last:
                start, end = self._calendar(unit, start - timedelta(days=1))
            elif n_next:  # in the future: the search says there are no photos from it yet
                start, end = self._calendar(unit, end)
            return j + 1, When(start, end)
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
        return day - relativedelta(months=months)

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
            return start, start + relativedelta(months=1)
        span = 10 if unit == "decade" else 1
        year = day.year - day.year % span
        return datetime(year, 1, 1), datetime(year + span, 1, 1)

    def _ago(self, i: int) -> tuple[int, When] | None:
        counted = self._number(i)
        if not counted or not self._unit(counted[0]):
            return None
        unit_i = counted[0]
        n = self.lex.ago.at(self.w, unit_i + 1)
        if not n:
            return None
        unit = self._unit(unit_i)
        then = self._minus(self.today, unit, counted[1])
        return unit_i + 1 + n, When(*self._calendar(unit, then))

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

    def _named(self, i: int) -> tuple[int, When] | None:
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
            return i + 2, When(*_month_span(month, 1)(year), year=year)
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
            return year[0], When(*anchor(year[1]), anchor, year[1])
        if not self._bare_allowed(i, j):
            return None
        return j, _most_recent(anchor, self.now, ended=False)

    def _year_after(self, j: int) -> tuple[int, int] | None:
        """The year after a month/season/holiday: "2019", "of 2019", "in 2019", "'19"."""
        w = self.w
        k = j + 1 if j < len(w) and w[j] in self.lex.year_link else j
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

    def _with_day(self, j: int, month: int, day: int) -> tuple[int, When] | None:
        year = self._year_after(j)
        anchor = _day_span(month, day, 0, 1)
        try:
            if year:
                return year[0], When(*anchor(year[1]), anchor, year[1])
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

    def expression(self, i: int) -> tuple[int, int, When] | None:
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
            (lex.before, lambda v: When(DISTANT_PAST, v.start)),
            (lex.after, lambda v: When(v.end, DISTANT_FUTURE)),
            (lex.since, lambda v: When(v.start, DISTANT_FUTURE)),
            (lex.until, lambda v: When(DISTANT_PAST, v.end)),
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
    def _span(first: When, second: When) -> When:
        """[first, second] inclusive, giving a bare month the other end's year."""
        if second.year is not None and first.year is None and first.anchor:
            first = first.in_year(second.year)
            if first.start > second.start:
                first = first.in_year(second.year - 1)
        elif first.anchor and second.anchor and second.year is None:
            second = second.in_year(first.start.year)
            if second.end <= first.start:
                second = second.in_year(first.start.year + 1)
        return When(min(first.start, second.start), max(first.end, second.end))


def read_dates(st: Parse, lex: Lexicon, now: datetime, names: frozenset[str]) -> DateRange | None:
    """Every date expression, combined into one range; their words leave the text."""
    doc = st.doc
    titles = [t.is_title for t in doc]
    reader = DateReader(lex, st.tokens, titles, now, names, [t.pos_ for t in doc])
    found: list[tuple[int, int, int, When]] = []  # (claim start, label start, end, value)
    i = 0
    while i < len(st.tokens):
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
        between = st.tokens[prev_end:start]
        if all(w in ("and", "or", ",", "&", "and/or") for w in between):  # "2019 or 2020"
            st.claim(prev_end, start, "date")
            value = When(min(value.start, nxt.start), max(value.end, nxt.end))
            label = doc[found[0][1] : end].text
        elif value.start < nxt.end and nxt.start < value.end:  # nested: keep the overlap
            value = When(max(value.start, nxt.start), min(value.end, nxt.end))
            label = f"{label} {doc[core:end].text}"
    return DateRange(value.start, value.end, label)
