"""Questions about the library, answered in words first, then the photos that show it.

How many, when first or last, which years or months, where (a photo, or a person's places
with counts), who with (ranked by shared photos), what is in photo N. The figures come from
`Library.facts` (counted in the catalog); the words from prompts/replies.toml [answer].
A question about a description ("how many photos of sunsets?") is answered from a search,
and says so.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from assistant import showing
from assistant.answers import hit
from assistant.context import Context
from assistant.replies import Md, Reply, escape, hit_picture, plural, unnamed
from index.types import Facts, Query


def question_query(ctx: Context, q: str) -> Query:
    """What a question asks about, read like a search: "of Bob do I have in 2019" -> Query."""
    rest = f" {q.strip()} "
    for phrase in sorted(ctx.wording.intents["questions"]["strip"], key=len, reverse=True):
        rest = re.sub(rf"(?i)\s{re.escape(phrase)}(?=\s)", " ", rest)
    rest = " ".join(rest.split())
    return ctx.parse(f"photos {rest}" if rest else "photos")


def about(ctx: Context, query: Query) -> Md:
    """ " of Bob in 2019 in Paris": what a question was about, in words."""
    parts = []
    people = [*query.people_all, *query.people_any]
    if people:
        joiner = " or " if query.people_any and not query.people_all else " and "
        parts.append("of " + joiner.join(people))
    if query.people_none:
        parts.append("without " + " or ".join(query.people_none))
    if query.dates is not None and query.dates.label:
        label = query.dates.label
        parts.append(
            label if label.split()[0] in ("in", "from", "on", "during") else f"from {label}"
        )
    if query.places:
        parts.append("in " + " or ".join(query.places))
    if query.words:
        parts.append("with the words " + ", ".join(f"“{w}”" for w in query.words))
    return ctx.wording.say("answer", "about", what=" ".join(parts)) if parts else Md("")


def long_date(iso: str) -> str:
    """ "2024-05-03T…" -> "3 May 2024"."""
    day = datetime.fromisoformat(iso)
    return f"{day.day} {day:%B %Y}"


def _needs_asking(query: Query) -> bool:
    return bool(query.unknown_names or query.ambiguous)


def _with_evidence(ctx: Context, text: Md, query: Query) -> Reply:
    """The answer, then the photos it is about (the search's first page)."""
    echo = about(ctx, query).strip()
    shown = showing.search(
        ctx, replace(query, raw=f"photos {echo}" if echo else query.raw), note=text
    )
    if shown.photos:
        return replace(shown, intent="answer")
    return Reply(text, intent="answer", query=query)


def _facts(ctx: Context, args: dict, aspect: str) -> Reply | tuple[Query, Facts, Md]:
    """The question's query, its facts for one aspect and what it is about; or the reply
    asking who a name is first."""
    query = question_query(ctx, args.get("q") or args.get("q2") or args.get("q3") or "")
    if _needs_asking(query):
        return showing.search(ctx, query)
    return query, ctx.library.facts(query, frozenset({aspect})), about(ctx, query)


# --- how many ---


def how_many(ctx: Context, args: dict) -> Reply:
    """ "how many photos of Bob do I have in 2019?", "how many people do you know?"."""
    say = ctx.wording.say
    if args.get("people"):
        people = ctx.library.people.everyone()
        named = sum(1 for p in people if p.name)
        groups = len(people) - named
        text = say(
            "answer",
            "count_people",
            count=named,
            people_word=plural(named, "person", "people"),
            groups=groups,
            group_word=plural(groups, "group", "groups"),
        )
        return Reply(text, intent="answer")
    query = question_query(ctx, args.get("q", ""))
    if _needs_asking(query):
        return showing.search(ctx, query)
    if query.text:
        return _count_described(ctx, query)
    facts = ctx.library.facts(query)
    what = about(ctx, query)
    if not query.has_people and not (query.dates or query.places or query.words):
        count = facts.count
        text = say(
            "answer", "count_library", count=count, photo_word=plural(count, "photo", "photos")
        )
        return Reply(text, intent="answer")
    if facts.count == 0:
        why = " ".join(escape(n) for n in facts.notes)
        return Reply(
            Md(" ".join(p for p in (say("answer", "none", about=what), why) if p)), intent="answer"
        )
    text = say(
        "answer",
        "count",
        count=facts.count,
        photo_word=plural(facts.count, "photo", "photos"),
        about=what,
    )
    return _with_evidence(ctx, text, query)


def _count_described(ctx: Context, query: Query) -> Reply:
    """A count of a description is the number of photos its search finds (said so)."""
    limit = ctx.library.settings.search_max_limit
    shown = showing.search(ctx, replace(query, limit=limit))
    if shown.intent != "search":
        return shown  # no image model, or a name to ask about
    count = len(ctx.memory.hits)
    text = ctx.wording.say(
        "answer",
        "count_text",
        count=count,
        photo_word=plural(count, "photo", "photos"),
        text=query.text,
        about=about(ctx, replace(query, text="")),
    )
    return replace(shown, text=Md(f"{text} {shown.text}"), intent="answer")


# --- when ---


def when(ctx: Context, args: dict) -> Reply:
    """ "when did I last see Carol?": the date (said uncertain when only the file's), the photo."""
    which = (args.get("which") or "last").lower()
    first = which in ("first", "earliest", "oldest")
    query = question_query(ctx, args.get("q", ""))
    if _needs_asking(query):
        return showing.search(ctx, query)
    facts = ctx.library.facts(query, frozenset({"when"}))
    what = about(ctx, query)
    say = ctx.wording.say
    dated = facts.first if first else facts.last
    if dated is None:
        key = "none" if facts.count == 0 else "no_dates"
        why = " ".join(escape(n) for n in facts.notes)
        return Reply(
            Md(" ".join(p for p in (say("answer", key, about=what), why) if p)), intent="answer"
        )
    unsure = say("answer", "unsure") if dated.uncertain else ""
    text = say(
        "answer",
        "first" if first else "last",
        about=what,
        date=long_date(dated.taken_at),
        unsure=unsure,
    )
    return _with_evidence(ctx, text, dated.query(query))


# --- which years / months ---


def which_periods(ctx: Context, args: dict) -> Reply:
    """ "which years do I have photos of Alice?": each year (or month) with its count."""
    month = args.get("unit", "years").lower().startswith("month")
    query = question_query(ctx, args.get("q", ""))
    if _needs_asking(query):
        return showing.search(ctx, query)
    facts = ctx.library.facts(query, frozenset({"months" if month else "years"}))
    say = ctx.wording.say
    what = about(ctx, query)
    if not facts.periods:
        key = "none" if facts.count == 0 else "no_dates"
        return Reply(say("answer", key, about=what), intent="answer")
    items = []
    for period, count, unsure in facts.periods:
        label = datetime.strptime(period, "%Y-%m").strftime("%B %Y") if month else period
        item = say("answer", "period_item", period=label, count=count)
        if unsure:
            item = Md(item[:-1] + say("answer", "period_unsure", count=unsure) + ")")
        items.append(item)
    unit = "month" if month else "year"
    return Reply(
        say("answer", "periods", about=what, unit=unit, list=Md(", ".join(items))), intent="answer"
    )


# --- where ---


def where_photo(ctx: Context, args: dict) -> Reply:
    """ "where was photo 3 taken?" ("this": the one photo shown last)."""
    n = args.get("n")
    if n is None:
        if len(ctx.memory.hits) != 1 and ctx.memory.shown != 1:
            return Reply(ctx.wording.say("answer", "where_which"), intent="usage")
        n = "1"
    info = ctx.library.photo_info(hit(ctx, n).photo_id)
    if not info.get("place"):
        return Reply(ctx.wording.say("answer", "where_unknown", n=n), intent="answer")
    return Reply(
        ctx.wording.say("answer", "where_photo", n=n, place=info["place"]), intent="answer"
    )


def where_person(ctx: Context, args: dict) -> Reply:
    """ "where have I been with Alice?": places of those photos, most photos first."""
    asked = _facts(ctx, args, "places")
    if isinstance(asked, Reply):
        return asked
    query, facts, what = asked
    say = ctx.wording.say
    if not facts.places:
        key = "none" if facts.count == 0 else "no_places"
        return Reply(say("answer", key, about=what), intent="answer")
    items = [say("answer", "place_item", place=p, count=n) for p, n in facts.places]
    text = say("answer", "places", about=what, list=Md(", ".join(items)))
    return _with_evidence(ctx, text, query)


# --- who with ---


def who_with(ctx: Context, args: dict) -> Reply:
    """ "who is Alice with most?", "who was with Bob in Paris?": others by shared photos."""
    asked = _facts(ctx, args, "people")
    if isinstance(asked, Reply):
        return asked
    query, facts, what = asked
    say = ctx.wording.say
    if facts.count == 0:
        return Reply(say("answer", "none", about=what), intent="answer")
    if not facts.people:
        return Reply(say("answer", "with_nobody", about=what), intent="answer")
    most = ctx.library.settings.chat_page_size
    items = [say("answer", "with_item", name=name, count=n) for name, n in facts.people[:most]]
    text = say("answer", "with_most", about=what, list=Md(", ".join(items)))
    return _with_evidence(ctx, text, query)


# --- what is in photo N ---


def what_in_photo(ctx: Context, args: dict) -> Reply:
    """ "what is in photo 3?": its people, date and where the date came from, place, words."""
    n = args.get("n") or args.get("n2")
    shown = hit(ctx, n)
    info = ctx.library.photo_info(shown.photo_id)
    faces = ctx.library.people.photo_faces(shown.path)
    say = ctx.wording.say
    lines = [say("answer", "photo_title", n=n, file=Path(info["path"]).name)]
    names = [f.label for f in faces if not unnamed(f.label, f.person_id)]
    strangers = len(faces) - len(names)
    if strangers:
        names.append(ctx.wording.plain("answer", "photo_unknown_faces", count=strangers))
    lines.append(
        say("answer", "photo_people", people=", ".join(names))
        if faces
        else say("answer", "photo_nobody")
    )
    if info.get("taken_at"):
        lines.append(
            say("answer", "photo_date", date=long_date(info["taken_at"]), source=info["date_note"])
        )
    else:
        lines.append(say("answer", "photo_no_date"))
    lines.append(
        say("answer", "photo_place", place=info["place"])
        if info.get("place")
        else say("answer", "photo_no_place")
    )
    if info.get("words"):
        lines.append(say("answer", "photo_words", words=" · ".join(info["words"])))
    picture = hit_picture(int(n), shown, ctx.wording, names)
    return Reply(Md("\n".join(lines)), photos=(picture,), intent="answer")


# --- what it cannot do ---


def cannot(ctx: Context, _args: dict) -> Reply:
    """A request it cannot do: one honest sentence and the list of what it can."""
    can = ctx.wording.replies["answer"]["can_do"].format(**ctx.examples())
    return Reply(Md(f"{ctx.wording.say('answer', 'cannot')}\n{can}"), intent="cannot")
