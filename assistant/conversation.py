"""The chat session: what every session shares, and how one session answers a message.

`Assistant` holds what all browser sessions share (the library, the query parser, the wording,
one lock); `Conversation` is one session: it finds the intent of a message (`intents`) and
hands the handler a `Context`; a message that is no intent is a search or a refinement of the
last one (`showing`). Replies are plain data (`replies.Reply`); the library is reached only
through `Library`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from assistant import showing, uploads
from assistant.context import Context, Memory, StatusFn
from assistant.intents import WRITING, Intents
from assistant.replies import Md, Picture, Reply, Wording, escape, plural
from assistant.showing import refine_query
from index.errors import PirError
from index.settings import Settings
from index.types import Query

if TYPE_CHECKING:
    from assistant.query import QueryParser
    from index.library import Library

__all__ = ["Assistant", "Conversation", "Reply", "refine_query"]

log = logging.getLogger("pir.chat")
# What may answer an open "who is Kim?": a naming, or a yes / no to a question about it.
ANSWERS_WHO = frozenset({"name_person", "name_photo", "name_face", "confirm", "cancel"})
# The status line is recomputed at most this often (it counts photos and people).
NOTE_TTL_S = 2.0


def _normalise(text: str) -> str:
    text = re.sub(r"\s+", " ", text.replace("’", "'")).strip()
    return text.strip(" .!?;,")


# --- state shared by every session ---


class Assistant:
    """What all chat sessions share: the library, the query parser, the wording and one lock.

    The lock serialises library calls from concurrent sessions (Gradio runs handlers in
    threads); each session's own memory lives in its `Conversation`.
    """

    def __init__(
        self,
        library: Library | None = None,
        wording: Wording | None = None,
        read_only: bool = False,
        settings: Settings | None = None,
        now: datetime | None = None,
    ):
        self.wording = wording or Wording()
        self.intents = Intents(self.wording)  # a missing handler fails here, at start
        self.read_only = read_only or bool(getattr(library, "read_only", False))
        self.settings = settings or getattr(library, "settings", None) or Settings.from_env()
        self.now = now
        self.lock = threading.RLock()
        self.status = ""  # indexing progress shown to every session ("" when idle)
        self.indexing = False
        self.indexing_ended = 0.0  # time.time() when indexing last finished
        self._library = library
        self._parser: QueryParser | None = None
        self._speller = None
        self._names: frozenset[str] | None = None  # known names, parts and aliases, lower case
        self._examples: dict[str, str] | None = None
        self._note: tuple[float, str] | None = None

    @property
    def library(self) -> Library | None:
        """The shared Library, or None before one exists."""
        return self._library

    def set_library(self, library: Library) -> None:
        """Use another Library (e.g. once the demo is indexed); the parser is rebuilt."""
        with self.lock:
            self._library = library
            self._parser = None
            self._names = None
            self._examples = None
            self._note = None

    @property
    def parser(self) -> QueryParser:
        """The query parser, built on first use from the library's people and places."""
        with self.lock:
            if self._parser is None:
                from assistant.query import QueryParser

                people, places = self._vocabulary()
                self._parser = QueryParser(people, places, now=self.now, settings=self.settings)
            return self._parser

    def spelled(self, text: str) -> str:
        """The message with misspelt command words put right ("who do you knwo")."""
        with self.lock:
            if self._speller is None:
                from assistant.query.lexicon import engine
                from assistant.query.spelling import speller

                self._speller = speller(self.wording.intents["spelling"], engine())
            if self._names is None:
                people = self._vocabulary()[0]
                forms = [*people, *(a for aliases in people.values() for a in aliases)]
                self._names = frozenset(w.lower() for form in forms for w in form.split())
            return self._speller.fix(text, self._names)

    def _vocabulary(self) -> tuple[dict[str, list[str]], list[str]]:
        lib = self._library
        if lib is None:
            return {}, []
        return lib.people.names(), lib.places()

    def refresh(self) -> None:
        """Tell the parser about new names and places (after naming or indexing)."""
        with self.lock:
            self._examples = None
            self._note = None
            self._names = None
            if self._parser is not None:
                people, places = self._vocabulary()
                self._parser.update(people=people, places=places)

    def has_photos(self) -> bool:
        """Whether the library holds any indexed photo."""
        if self._library is None:
            return False
        with self.lock:
            return self._library.has_photos()

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
            names, places, years = list(lib.people.names()), list(lib.places()), list(lib.years())
        stand_in = self.wording.replies["examples"]["names"]
        name = names[0] if names else stand_in[0]
        other = names[1] if len(names) > 1 else (name if names else stand_in[1])
        year = str(years[0]) if years else str((self.now or datetime.now()).year - 1)
        say = self.wording.say
        people_key = "people" if len(names) != 1 else "one_person"
        return {
            "name": escape(name),
            "other": escape(other),
            "year": year,
            "example_people": say("examples", people_key, name=name, other=other),
            "example_date": say("examples", "date", name=name, year=year),
            "example_text": say("examples", "text", name=name, year=year),
            "example_place": (
                say("examples", "place", place=places[0]) if places else say("examples", "no_place")
            ),
        }

    def suggestions(self) -> list[str]:
        """The first screen's suggestions: requests built from the library's own names, years
        and places (plain text, sent as typed when clicked)."""
        lib = self._library
        if lib is None or not self.has_photos():
            return []
        with self.lock:
            names, places, years = list(lib.people.names()), list(lib.places()), lib.years()
        say = self.wording.plain
        out = []
        if names:
            out.append(say("examples", "suggest_person", name=names[0]))
        if years:
            out.append(say("examples", "suggest_year", year=years[0]))
        if places:
            out.append(say("examples", "suggest_place", place=places[0]))
        if names:
            out.append(say("examples", "suggest_count", name=names[-1]))
        out.append(say("examples", "suggest_people"))
        return out

    def library_note(self) -> str:
        """A one-line status for the page: no library, indexing, or what the library holds."""
        if self.indexing:
            return self.status or self.wording.say("status", "indexing_start")
        if self._library is None:
            return self.wording.say("status", "no_library")
        cached = self._note
        if cached is not None and time.monotonic() - cached[0] < NOTE_TTL_S:
            return cached[1]
        with self.lock:  # people.names() reads the shared catalog connection too
            stats = self._library.stats()
            named = len(self._library.people.names()) if stats.get("photos") else 0
        if not stats.get("photos"):
            return self.wording.say("status", "empty_library")
        text = self.wording.say(
            "status",
            "indexed",
            photos=stats["photos"],
            people=named,
            people_word=plural(named, "person", "people"),
        )
        if self.status:
            text += " " + self.status
        if self.read_only:
            text += " " + self.wording.say("status", "read_only")
        self._note = (time.monotonic(), text)
        return text


# --- one session ---


class Conversation:
    """One browser session's conversation: message in, `Reply` out."""

    def __init__(self, assistant: Assistant):
        self.assistant = assistant
        self.wording = assistant.wording
        self.memory = Memory()
        self.panel: list[int] = []  # the person of each tile of the people panel, in order

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
            note = self.wording.say("search", "too_long", limit=limit)
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

    def show_person(self, person_id: int) -> Reply:
        """A person's photos (a click on them in the people panel), as a search of them."""
        self.memory.turn += 1
        ctx = Context(self.memory, self.assistant)
        person = next((p for p in ctx.library.people.everyone() if p.id == person_id), None)
        if person is None:
            return Reply(self.wording.say("people", "gone", label=f"#{person_id}"), intent="usage")
        shown = person.name or self.wording.plain(
            "labels", "person", n=self.memory.number_of(person_id, None)
        )
        query = Query(raw=shown, people_all=(person.label,))
        reply = replace(showing.search(ctx, query), turn=self.memory.turn)
        self.memory.remember(reply)
        return reply

    def picture(self, turn: int, kind: str, number: int) -> Picture | None:
        """A picture this session showed ("p" photos, "f" faces), for a click on it."""
        photos, faces = self.memory.recent.get(turn, ((), ()))
        return next((p for p in (photos if kind == "p" else faces) if p.number == number), None)

    def _dispatch(self, text: str, upload: str | None, status: StatusFn) -> Reply:
        lib = self.assistant.library
        if lib is None:
            key = "indexing_start" if self.assistant.indexing else "no_library"
            return Reply(self.wording.say("status", key), intent="no_library")
        if not self.assistant.indexing and not self.assistant.has_photos():
            return Reply(self.wording.say("status", "empty_library"), intent="no_library")
        ctx = Context(self.memory, self.assistant, status)
        intents = self.assistant.intents
        if upload:
            self.memory.upload = upload
            asks_who = intents.matches("who_upload", text)
            return uploads.answer(ctx, text, upload, asks_who, intents.matches("like_upload", text))
        if not text:
            return Reply(showing.say_empty(ctx), intent="empty")
        text = self.assistant.spelled(text)
        intent, match = intents.match(text)
        if intent not in ("confirm", "cancel"):
            self.memory.confirm = None  # a question not answered is dropped, never acted on
        if intent not in ANSWERS_WHO:  # at most one open question: another command closes it
            self.memory.pending = None
            self.memory.pending_name = None
        if intent == "usage":
            return Reply(self.wording.say("errors", "usage", usage=match), intent="usage")
        if intent in WRITING and self.assistant.read_only:
            return Reply(self.wording.say("errors", "read_only"), intent="read_only")
        if intent:
            return intents.handle(intent, ctx, match)
        if self.memory.query is not None and showing.is_refinement(ctx, text):
            return showing.refine(ctx, text)
        return showing.search(ctx, ctx.parse(text), source=(text, None))
