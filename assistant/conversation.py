"""The chat session: what every session shares, and one session's search, paging and refinement.

`Assistant` holds what all browser sessions share (the library, the query parser, the words,
one lock); `Conversation` is one session: it finds the intent of a message (`intents`), hands
the handler a `Context`, and owns the search-and-show step, paging and refinements itself.
Replies are plain data (`replies.Reply`); the library is reached only through `Library`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

from assistant import answers, clarify, uploads
from assistant.context import Context, Locked, Memory, StatusFn
from assistant.intents import WRITING, Intents
from assistant.replies import Md, Picture, Reply, Words, escape, hit_picture, plural
from index.errors import ModelUnavailable, PirError
from index.settings import Settings
from index.types import Query, SearchResult

log = logging.getLogger("pir.chat")
# The status line is recomputed at most this often (it counts photos and people).
NOTE_TTL_S = 2.0


def _normalise(text: str) -> str:
    text = re.sub(r"\s+", " ", text.replace("’", "'")).strip()
    return text.strip(" .!?;,")


# --- state shared by every session ---


class Assistant:
    """What all chat sessions share: the library, the query parser, the words and one lock.

    The lock serialises library calls from concurrent sessions (Gradio runs handlers in
    threads); each session's own memory lives in its `Conversation`.
    """

    def __init__(
        self,
        library: Any = None,
        words: Words | None = None,
        read_only: bool = False,
        settings: Settings | None = None,
        now: datetime | None = None,
    ):
        self.words = words or Words()
        self.intents = Intents(self.words)  # a missing handler fails here, at start
        self.read_only = read_only or bool(getattr(library, "read_only", False))
        self.settings = settings or getattr(library, "settings", None) or Settings.from_env()
        self.now = now
        self.lock = threading.RLock()
        self.status = ""  # indexing progress shown to every session ("" when idle)
        self.indexing = False
        self.indexing_ended = 0.0  # time.time() when indexing last finished
        self._library = library
        self._parser = None
        self._examples: dict[str, str] | None = None
        self._note: tuple[float, str] | None = None

    @property
    def library(self) -> Any:
        """The shared Library, or None before one exists."""
        return self._library

    def set_library(self, library: Any) -> None:
        """Use another Library (e.g. once the demo is indexed); the parser is rebuilt."""
        with self.lock:
            self._library = library
            self._parser = None
            self._examples = None
            self._note = None

    @property
    def parser(self):
        """The query parser, built on first use from the library's people and places."""
        with self.lock:
            if self._parser is None:
                from assistant.query import QueryParser

                people, places = self._vocabulary()
                self._parser = QueryParser(people, places, now=self.now, settings=self.settings)
            return self._parser

    def _vocabulary(self) -> tuple[dict[str, list[str]], list[str]]:
        lib = self._library
        if lib is None:
            return {}, []
        return lib.people_names(), lib.places()

    def refresh(self) -> None:
        """Tell the parser about new names and places (after naming or indexing)."""
        with self.lock:
            self._examples = None
            self._note = None
            if self._parser is not None:
                people, places = self._vocabulary()
                self._parser.update(people=people, places=places)

    def has_photos(self) -> bool:
        """Whether the library holds any indexed photo."""
        if self._library is None:
            return False
        with self.lock:
            return bool(self._library.stats().get("photos"))

    def new_session(self) -> Conversation:
        """A fresh conversation for one browser session."""
        return Conversation(self)

    def examples(self) -> dict[str, str]:
        """Example requests from the library's own names, years and places (kept until a change)."""
        with self.lock:
            if self._examples is None or self.indexing:
                self._examples = self._make_examples()
            return self._examples

    def _make_examples(self) -> dict[str, str]:
        lib = self._library
        names: list[str] = []
        years: list[int] = []
        places: list[str] = []
        if lib is not None:
            names, places, years = list(lib.people_names()), list(lib.places()), list(lib.years())
        stand_in = self.words.replies["examples"]["names"]
        name = names[0] if names else stand_in[0]
        other = (
            names[1] if len(names) > 1 else (stand_in[1] if name != stand_in[1] else stand_in[2])
        )
        year = str(years[0]) if years else str((self.now or datetime.now()).year - 1)
        say = self.words.say
        return {
            "name": escape(name),
            "other": escape(other),
            "year": year,
            "rename": escape(name + "a" if not name.endswith("a") else name + "h"),
            "alias": escape(name[:3] if len(name) > 3 else name + "ie"),
            "example_people": say("examples", "people", name=name, other=other),
            "example_date": say("examples", "date", name=name, year=year),
            "example_text": say("examples", "text", name=name, year=year),
            "example_place": (
                say("examples", "place", place=places[0]) if places else say("examples", "no_place")
            ),
        }

    def library_note(self) -> str:
        """A one-line status for the page: no library, indexing, or what the library holds."""
        if self.indexing:
            return self.status or self.words.say("status", "indexing_start")
        if self._library is None:
            return self.words.say("status", "no_library")
        cached = self._note
        if cached is not None and time.monotonic() - cached[0] < NOTE_TTL_S:
            return cached[1]
        with self.lock:  # people_names reads the shared catalog connection too
            stats = self._library.stats()
            named = len(self._library.people_names()) if stats.get("photos") else 0
        if not stats.get("photos"):
            return self.words.say("status", "empty_library")
        text = self.words.say(
            "status",
            "indexed",
            photos=stats["photos"],
            people=named,
            people_word=plural(named, "person", "people"),
        )
        if self.status:
            text += " " + self.status
        if self.read_only:
            text += " " + self.words.say("status", "read_only")
        self._note = (time.monotonic(), text)
        return text


# --- one session ---


class Conversation:
    """One browser session's conversation: message in, `Reply` out."""

    def __init__(self, assistant: Assistant):
        self.assistant = assistant
        self.words = assistant.words
        self.memory = Memory()

    # --- the entry point ---

    def respond(
        self, text: str, upload: str | None = None, status: StatusFn | None = None
    ) -> Reply:
        """Answer one message (optionally with an uploaded photo's path); never raises PirError."""
        started = time.perf_counter()
        self.memory.turn += 1
        note = ""
        limit = self.assistant.settings.chat_max_message  # the rest is ignored, and said so
        if len(text) > limit:
            text = text[:limit]
            note = self.words.say("search", "too_long", limit=limit)
        try:
            reply = self._dispatch(_normalise(text), upload, status or (lambda _msg: None))
        except PirError as err:
            message = err.args[0] if err.args else ""
            reply = Reply(message if isinstance(message, Md) else escape(err), intent="error")
        if note:
            reply = replace(reply, text=f"{note}\n\n{reply.text}")
        reply = replace(reply, turn=self.memory.turn)
        self.memory.remember(reply)
        log.debug("answered %s in %.3f s", reply.intent, time.perf_counter() - started)
        return reply

    def picture(self, turn: int, kind: str, number: int) -> Picture | None:
        """A picture this session showed ("p" photos, "f" faces), for a click on it."""
        photos, faces = self.memory.recent.get(turn, ((), ()))
        return next((p for p in (photos if kind == "p" else faces) if p.number == number), None)

    def _context(self, status: StatusFn) -> Context:
        return Context(
            memory=self.memory,
            library=Locked(self.assistant.library, self.assistant.lock),
            words=self.words,
            read_only=self.assistant.read_only,
            status=status,
            search=lambda query, note="", source=None: self._search(query, status, note, source),
            show=self._show_result,
            more=self._more,
            resume=lambda note: self._resume(note, status),
            parse=self._parse,
            examples=self.assistant.examples,
            refresh=self.assistant.refresh,
        )

    def _parse(self, text: str) -> Query:
        parser = self.assistant.parser
        with self.assistant.lock:
            return parser.parse(text)

    def _dispatch(self, text: str, upload: str | None, status: StatusFn) -> Reply:
        lib = self.assistant.library
        if lib is None:
            key = "indexing_start" if self.assistant.indexing else "no_library"
            return Reply(self.words.say("status", key), intent="no_library")
        if not self.assistant.indexing and not self.assistant.has_photos():
            return Reply(self.words.say("status", "empty_library"), intent="no_library")
        ctx = self._context(status)
        intents = self.assistant.intents
        if upload:
            self.memory.upload = upload
            asks_who = intents.matches("who_upload", text)
            return uploads.answer(ctx, text, upload, asks_who, intents.matches("like_upload", text))
        if not text:
            return Reply(self._say_empty(), intent="empty")
        intent, match = intents.match(text)
        if intent not in ("confirm", "cancel"):
            self.memory.confirm = None  # a question not answered is dropped, never acted on
        if intent == "usage":
            return Reply(self.words.say("errors", "usage", usage=match), intent="usage")
        if intent in WRITING and self.assistant.read_only:
            return Reply(self.words.say("errors", "read_only"), intent="read_only")
        if intent:
            return intents.handle(intent, ctx, match)
        if self.memory.query is not None and self._is_refinement(text):
            return self._refine(text, status)
        return self._search(self._parse(text), status, source=(text, None))

    # --- searches ---

    def _say_empty(self) -> str:
        return self.words.say(
            "search", "empty", example=self.assistant.examples()["example_people"]
        )

    def _search(
        self,
        query: Query,
        status: StatusFn,
        note: str = "",
        source: tuple[str, Query | None] | None = None,
    ) -> Reply:
        """Run a parsed query: ask about unknown names first, then show the first page.

        `source` is (text, base): how to parse the query again once a name is known (base is
        the search a refinement changes).
        """
        source = source or (query.raw, None)
        if query.ambiguous:
            return clarify.which_one(self._context(status), query)
        if query.unknown_names:
            asked = clarify.did_you_mean(
                self._context(status),
                query,
                lambda word, name: self._search_fixed(source, word, name, status),
            )
            return asked or self._ask_unknown(query, source)
        filters = bool(query.has_people or query.dates or query.places or query.only or query.words)
        if not (query.text or filters):
            return Reply(self._say_empty(), intent="empty", query=query)
        lib = Locked(self.assistant.library, self.assistant.lock)
        prefix = ""
        if query.text and not self._text_ready(status):
            ctx = self._context(status)
            said = answers.model_note(ctx) or self.words.say("model", "missing_again")
            if not filters:
                return Reply(said, intent="model_missing", query=query)
            prefix = f"{said} {self.words.say('model', 'filters_used')}"
            query = replace(query, text="")
        try:
            result = lib.search(query)
        except ModelUnavailable:
            return Reply(self.words.say("model", "missing_again"), intent="model_missing")
        return self._show_result(result, prefix=" ".join(p for p in (note, prefix) if p))

    def _search_fixed(
        self, source: tuple[str, Query | None], word: str, name: str, status: StatusFn
    ) -> Reply:
        """The search again with a misspelt name put right ("yes" to "did you mean …?")."""
        text, base = source
        fixed = re.sub(rf"(?i)\b{re.escape(word)}\b", name, text, count=1)
        query = self._parse(fixed)
        if base is not None:
            query = refine_query(base, query, fixed)
        return self._search(query, status, source=(fixed, base))

    def _text_ready(self, status: StatusFn) -> bool:
        """Whether searching by description works; says "loading" only for a model that can load."""
        lib = Locked(self.assistant.library, self.assistant.lock)
        if lib.text_model_problem() is not None:
            return False
        if lib.text_model_loaded():
            return True
        status(self.words.say("model", "loading"))

        def downloading(done: int, total: int, _file: str) -> None:
            mb, all_mb = done / 2**20, total / 2**20
            percent = done * 100 // total if total else 0
            status(self.words.say("model", "downloading", mb=mb, total=all_mb, percent=percent))

        # Not under the assistant's lock: a first download takes minutes and touches no
        # catalog; other sessions keep searching by people, dates and places meanwhile.
        return self.assistant.library.text_model_ready(download=downloading)

    def _show_result(self, result: SearchResult, prefix: str = "") -> Reply:
        memory = self.memory
        memory.query = result.query
        memory.hits = list(result.hits)
        memory.shown = min(len(memory.hits), self._page())
        memory.pending = None
        memory.pending_name = None
        for hit in memory.hits[: memory.shown]:
            for person in hit.people:
                memory.seen_names.setdefault(person.person_id, person.name)
        about = self._about(result.query)
        notes = escape(" ".join(result.notes))
        if not memory.hits:
            text = self.words.say("search", "nothing", about=about)
        else:
            key = "found" if len(memory.hits) > memory.shown else "found_last"
            examples = self.assistant.examples()
            text = self.words.say(
                "search",
                key,
                count=memory.shown,
                are=plural(memory.shown, "is", "are"),
                photos=plural(memory.shown, "photo", "photos"),
                about=about,
                year=examples["year"],
                someone=Md(examples["name"]),
            )
        text = " ".join(p for p in (prefix, text, notes) if p)
        return Reply(
            text, photos=self._pictures(0, memory.shown), intent="search", query=result.query
        )

    def _page(self) -> int:
        return self.assistant.settings.chat_page_size

    def _about(self, query: Query) -> str:
        what = query.raw.strip() if query.raw else ""
        return self.words.say("search", "about", what=what) if what else ""

    def _pictures(self, start: int, stop: int) -> tuple[Picture, ...]:
        hits = self.memory.hits[start:stop]
        with self.assistant.lock:
            names = self.assistant.library.names_in_photos([h.photo_id for h in hits])
        return tuple(
            hit_picture(n, hit, self.words, names.get(hit.photo_id))
            for n, hit in enumerate(hits, start + 1)
        )

    def _more(self) -> Reply:
        memory = self.memory
        if memory.query is None:
            example = self.assistant.examples()["example_people"]
            return Reply(self.words.say("search", "no_search_yet", example=example), intent="more")
        start = memory.shown
        if start + self._page() > len(memory.hits) and memory.query.limit is None:
            # The search may have stopped at its limit: ask the library for a longer list.
            wanted = len(memory.hits) + 2 * self._page()
            with self.assistant.lock:
                result = self.assistant.library.search(replace(memory.query, limit=wanted))
            if len(result.hits) > len(memory.hits):
                memory.hits = list(result.hits)
        if start >= len(memory.hits):
            return Reply(self.words.say("search", "no_more"), intent="more")
        stop = min(len(memory.hits), start + self._page())
        memory.shown = stop
        text = self.words.say(
            "search",
            "more",
            count=stop - start,
            first=start + 1,
            last=stop,
            about=self._about(memory.query),
        )
        return Reply(text, photos=self._pictures(start, stop), intent="more", query=memory.query)

    def _is_refinement(self, text: str) -> bool:
        low = text.lower()
        starts = any(re.match(rf"{re.escape(w)}\b", low) for w in self.words.refine["starts"])
        ends = any(re.search(rf"\b{re.escape(w)}$", low) for w in self.words.refine["ends"])
        return starts or ends

    def _refine(self, text: str, status: StatusFn) -> Reply:
        """Change the last search: "only the ones from 2019", "without Bob", "at night instead"."""
        rest = text
        for phrase in sorted(self.words.refine["strip"], key=len, reverse=True):
            rest = re.sub(rf"(?i)(?:^|\s){re.escape(phrase)}(?=\s|$)", " ", rest)
        # A bare fragment ("with Carol") reads better to the parser as a whole request.
        fragment = f"photos {rest.strip()}"
        base = self.memory.query
        merged = refine_query(base, self._parse(fragment), text)
        return self._search(merged, status, source=(fragment, base))

    # --- unknown names ---

    def _ask_unknown(self, query: Query, source: tuple[str, Query | None]) -> Reply:
        name = query.unknown_names[0]
        self.memory.pending = source
        self.memory.pending_name = name
        if self.assistant.read_only:  # a guest cannot name anyone: no faces to pick from
            text = self.words.say("unknown", "guest", name=name)
            return Reply(text, intent="ask_unknown", query=query)
        faces = answers.unnamed_offer(self._context(lambda _m: None))
        if not faces:
            return Reply(self.words.say("unknown", "ask_none", name=name), intent="ask_unknown")
        key = "ask" if len(query.unknown_names) == 1 else "many"
        first = faces[0].number
        names = ", ".join(query.unknown_names)
        text = self.words.say("unknown", key, name=name, names=names, n=first)
        return Reply(text, faces=faces, intent="ask_unknown", query=query)

    def _resume(self, note: str, status: StatusFn) -> Reply | None:
        """After a naming: run the search that waited for a name, with the naming as its note."""
        pending = self.memory.pending
        if pending is None:
            return None
        self.memory.pending = None
        text_to_parse, base = pending
        query = self._parse(text_to_parse)
        if base is not None:
            query = refine_query(base, query, text_to_parse)
        return self._search(query, status, note=note, source=pending)


# --- pure helpers (tested without a library) ---


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
