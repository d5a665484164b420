"""Searching and showing: run a parsed query, show a page of hits, page on, refine, resume.

The one search-and-show step every handler uses (`search`, `show`, `more`, `resume`), taking
the session's `Context` like any handler; the conversation dispatches to it and nothing here
calls back into the conversation. A name the library does not know yet is asked about first
(`ask_unknown`); the search waits in `Memory.pending` until a naming `resume`s it.
"""

from __future__ import annotations

import re
from dataclasses import replace

from assistant import answers, clarify
from assistant.context import Context
from assistant.replies import Md, Picture, Reply, escape, hit_picture, plural
from index.errors import ModelUnavailable
from index.types import Query, SearchResult


def say_empty(ctx: Context) -> str:
    """What to say to a message with nothing to search for."""
    return ctx.wording.say("search", "empty", example=ctx.examples()["example_people"])


def search(
    ctx: Context,
    query: Query,
    note: str = "",
    source: tuple[str, Query | None] | None = None,
) -> Reply:
    """Run a parsed query: ask about unknown names first, then show the first page.

    `source` is (text, base): how to parse the query again once a name is known (base is
    the search a refinement changes).
    """
    source = source or (query.raw, None)
    if query.ambiguous:
        return clarify.which_one(ctx, query)
    if query.unknown_names:
        asked = clarify.did_you_mean(
            ctx, query, lambda word, name: search_fixed(ctx, source, word, name)
        )
        return asked or ask_unknown(ctx, query, source)
    filters = bool(query.has_people or query.dates or query.places or query.only or query.words)
    if not (query.text or filters):
        return Reply(say_empty(ctx), intent="empty", query=query)
    prefix = ""
    if query.text and not text_ready(ctx):
        said = answers.model_note(ctx) or ctx.wording.say("model", "missing_again")
        if not filters:
            return Reply(said, intent="model_missing", query=query)
        prefix = f"{said} {filters_used(ctx, query)}"
        query = replace(query, text="")
    try:
        result = ctx.library.search(query)
    except ModelUnavailable:
        return Reply(ctx.wording.say("model", "missing_again"), intent="model_missing")
    return show(ctx, result, prefix=" ".join(p for p in (note, prefix) if p))


def filters_used(ctx: Context, query: Query) -> str:
    """ "I searched by the words in the photos and the dates only": what a search without the
    image model did use, as it was asked."""
    used = ctx.wording.replies["model"]["used"]
    parts = [
        used[key]
        for key, present in (
            ("people", query.has_people or query.only),
            ("dates", query.dates is not None),
            ("places", bool(query.places)),
            ("words", bool(query.words)),
        )
        if present
    ]
    what = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return ctx.wording.say("model", "filters_used", what=what)


def search_fixed(ctx: Context, source: tuple[str, Query | None], word: str, name: str) -> Reply:
    """The search again with a misspelt name put right ("yes" to "did you mean …?")."""
    text, base = source
    fixed = re.sub(rf"(?i)\b{re.escape(word)}\b", name, text, count=1)
    query = ctx.parse(fixed)
    if base is not None:
        query = refine_query(base, query, fixed)
    return search(ctx, query, source=(fixed, base))


def text_ready(ctx: Context) -> bool:
    """Whether searching by description works; says "loading" only for a model that can load."""
    lib = ctx.library
    if lib.text_model_problem() is not None:
        return False
    if lib.text_model_loaded():
        return True
    ctx.status(ctx.wording.say("model", "loading"))

    def downloading(done: int, total: int, _file: str) -> None:
        mb, all_mb = done / 2**20, total / 2**20
        percent = done * 100 // total if total else 0
        ctx.status(ctx.wording.say("model", "downloading", mb=mb, total=all_mb, percent=percent))

    # Not under the shared lock: a first download takes minutes and touches no catalog;
    # other sessions keep searching by people, dates and places meanwhile.
    unlocked = ctx.shared.library
    return unlocked is not None and unlocked.text_model_ready(download=downloading)


def show(ctx: Context, result: SearchResult, prefix: str = "") -> Reply:
    """Show the first page of a result the library found, and remember it for "more"."""
    memory = ctx.memory
    memory.query = result.query
    memory.hits = list(result.hits)
    memory.shown = min(len(memory.hits), _page(ctx))
    memory.pending = None
    memory.pending_name = None
    for hit in memory.hits[: memory.shown]:
        for person in hit.people:
            memory.seen_names.setdefault(person.person_id, person.name)
    about = _about(ctx, result.query)
    notes = escape(" ".join(result.notes))
    if not memory.hits:
        text = ctx.wording.say("search", "nothing", about=about)
    else:
        key = "found" if len(memory.hits) > memory.shown else "found_last"
        examples = ctx.examples()
        text = ctx.wording.say(
            "search",
            key,
            count=memory.shown,
            are=plural(memory.shown, "is", "are"),
            photos=plural(memory.shown, "photo", "photos"),
            about=about,
            year=examples["year"],
            someone=Md(examples["name"]),
        )
    text = " ".join(p for p in (prefix, text, _uncertain_dates(ctx, result), notes) if p)
    return Reply(text, photos=_pictures(ctx, 0, memory.shown), intent="search", query=result.query)


def _uncertain_dates(ctx: Context, result: SearchResult) -> str:
    """For a date search: how many of its photos are dated only by their file's time."""
    if result.query.dates is None:
        return ""
    count = sum(1 for h in result.hits if h.date_uncertain)
    if not count:
        return ""
    total = len(result.hits)
    return ctx.wording.say(
        "search",
        "uncertain",
        count=count,
        total=total,
        photos=plural(total, "photo", "photos"),
        are=plural(count, "is", "are"),
    )


def more(ctx: Context, _args: dict | None = None) -> Reply:
    """The next page of the last search (asking the library for a longer list when needed)."""
    memory = ctx.memory
    if memory.query is None:
        example = ctx.examples()["example_people"]
        return Reply(ctx.wording.say("search", "no_search_yet", example=example), intent="more")
    start = memory.shown
    # "5 photos of Alice", then "more": the next 5 (the number asked is the page).
    page = min(memory.query.limit or _page(ctx), _page(ctx))
    if start + page > len(memory.hits):
        # The search may have stopped at its limit: ask the library for a longer list.
        wanted = len(memory.hits) + 2 * page
        result = ctx.library.search(replace(memory.query, limit=wanted))
        if len(result.hits) > len(memory.hits):
            memory.hits = list(result.hits)
    if start >= len(memory.hits):
        return Reply(ctx.wording.say("search", "no_more"), intent="more")
    stop = min(len(memory.hits), start + page)
    memory.shown = stop
    text = ctx.wording.say(
        "search",
        "more",
        count=stop - start,
        first=start + 1,
        last=stop,
        about=_about(ctx, memory.query),
    )
    return Reply(text, photos=_pictures(ctx, start, stop), intent="more", query=memory.query)


def _page(ctx: Context) -> int:
    return ctx.settings.chat_page_size


def _about(ctx: Context, query: Query) -> str:
    what = query.raw.strip() if query.raw else ""
    return ctx.wording.say("search", "about", what=what) if what else ""


def _pictures(ctx: Context, start: int, stop: int) -> tuple[Picture, ...]:
    hits = ctx.memory.hits[start:stop]
    names = ctx.library.names_in_photos([h.photo_id for h in hits])
    return tuple(
        hit_picture(n, hit, ctx.wording, names.get(hit.photo_id))
        for n, hit in enumerate(hits, start + 1)
    )


# --- refinements ---


def is_refinement(ctx: Context, text: str) -> bool:
    """Whether a message changes the last search ("only the ones from 2019", "without Bob")."""
    low = text.lower()
    refine_words = ctx.wording.refine
    starts = any(re.match(rf"{re.escape(w)}\b", low) for w in refine_words["starts"])
    ends = any(re.search(rf"\b{re.escape(w)}$", low) for w in refine_words["ends"])
    return starts or ends


def refine(ctx: Context, text: str) -> Reply:
    """Change the last search: "only the ones from 2019", "without Bob", "at night instead"."""
    rest = text
    for phrase in sorted(ctx.wording.refine["strip"], key=len, reverse=True):
        rest = re.sub(rf"(?i)(?:^|\s){re.escape(phrase)}(?=\s|$)", " ", rest)
    # A bare fragment ("with Carol") reads better to the parser as a whole request.
    fragment = f"photos {rest.strip()}"
    base = ctx.memory.query
    if base is None:
        return search(ctx, ctx.parse(text), source=(text, None))
    merged = refine_query(base, ctx.parse(fragment), text)
    return search(ctx, merged, source=(fragment, base))


def refine_query(base: Query, part: Query, raw: str) -> Query:
    """The last search changed by a refinement: new filters replace or add to the old ones.

    The echoed words are the first search and this refinement, not every refinement so far.
    """
    none = _uniq(base.people_none, part.people_none)
    root = base.raw.split(" — ")[0]
    return Query(
        raw=f"{root} — {raw}",
        text=part.text or base.text,
        people_all=tuple(p for p in _uniq(base.people_all, part.people_all) if p not in none),
        people_any=tuple(p for p in _uniq(base.people_any, part.people_any) if p not in none),
        people_none=none,
        only=base.only or part.only,
        unknown_names=part.unknown_names,
        dates=part.dates or base.dates,
        places=part.places or base.places,
        limit=part.limit or base.limit,
        words=part.words or base.words,
    )


def _uniq(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for group in groups for name in group))


# --- unknown names ---


def ask_unknown(ctx: Context, query: Query, source: tuple[str, Query | None]) -> Reply:
    """Ask who a name in the query is, offering the unnamed faces; the search waits."""
    name = query.unknown_names[0]
    ctx.memory.pending = source
    ctx.memory.pending_name = name
    if ctx.read_only:  # a guest cannot name anyone: no faces to pick from
        text = ctx.wording.say("unknown", "guest", name=name)
        return Reply(text, intent="ask_unknown", query=query)
    faces = answers.unnamed_offer(ctx)
    if not faces:
        return Reply(ctx.wording.say("unknown", "ask_none", name=name), intent="ask_unknown")
    key = "ask" if len(query.unknown_names) == 1 else "many"
    first = faces[0].number
    names = ", ".join(query.unknown_names)
    text = ctx.wording.say("unknown", key, name=name, names=names, n=first)
    return Reply(text, faces=faces, intent="ask_unknown", query=query)


def resume(ctx: Context, note: str) -> Reply | None:
    """After a naming: run the search that waited for a name, with the naming as its note."""
    pending = ctx.memory.pending
    if pending is None:
        return None
    ctx.memory.pending = None
    text_to_parse, base = pending
    query = ctx.parse(text_to_parse)
    if base is not None:
        query = refine_query(base, query, text_to_parse)
    return search(ctx, query, note=note, source=pending)
