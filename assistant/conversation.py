"""The chat: what a message means, what each browser session remembers, and what to answer.

Plain data out: every message becomes a frozen `Reply` (text, numbered photos, numbered faces,
what changed), which the UI only renders. Words come from `prompts/`; the library is reached
only through `index.library.Library`'s public methods (no SQL, no FAISS, no Gradio here).
"""

from __future__ import annotations

import re
import threading
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from index.errors import InvalidInput, ModelUnavailable, NotFound, PirError
from index.people import MAX_NAME, labelled_person, person_label
from index.settings import Settings
from index.types import Hit, Query, SearchResult

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"

StatusFn = Callable[[str], None]
# Intents that change the library: refused in read-only mode, before anything is looked up.
WRITING_INTENTS = frozenset(
    {"name_person", "name_photo", "name_face", "not_person", "rename", "merge", "alias", "forget"}
)


# --- plain data crossing into the UI ---


@dataclass(frozen=True)
class Picture:
    """One numbered picture in a reply: a photo of the library or a face to pick."""

    number: int  # what the user types to refer to it ("photo 3", "person 2")
    image: str | None  # file to show (thumbnail, face crop or photo)
    caption: str
    photo_id: int | None = None
    person_id: int | None = None
    details: str = ""  # Markdown for the larger view: date, place, people, why it matched


@dataclass(frozen=True)
class Reply:
    """What the assistant answers to one message; the UI renders it and nothing else."""

    text: str
    photos: tuple[Picture, ...] = ()
    faces: tuple[Picture, ...] = ()
    changes: tuple[str, ...] = ()  # what changed in the library, in words
    people_changed: bool = False  # the people panel should be refreshed
    intent: str = ""
    query: Query | None = None  # the search behind `photos`, when there was one


# --- words ---


class Words:
    """Reply templates, intent patterns and help text from `prompts/`."""

    def __init__(self, folder: Path = PROMPTS):
        self.replies = tomllib.loads((folder / "replies.toml").read_text(encoding="utf-8"))
        intents = tomllib.loads((folder / "intents.toml").read_text(encoding="utf-8"))
        self.help = (folder / "help.md").read_text(encoding="utf-8")
        self.positions = intents["words"]
        self.refine = intents["refine"]
        self.intents = [
            (
                item["name"],
                re.compile(item["pattern"], re.IGNORECASE),
                re.compile(item["starts"], re.IGNORECASE) if item.get("starts") else None,
                item.get("usage", ""),
            )
            for item in intents["intent"]
        ]

    def say(self, section: str, key: str, **values: Any) -> str:
        """One reply template filled in."""
        return self.replies[section][key].format(**values)


def plural(n: int, one: str, many: str) -> str:
    """`one` or `many` by count."""
    return one if n == 1 else many


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
        self.read_only = read_only or bool(getattr(library, "read_only", False))
        self.settings = settings or getattr(library, "settings", None) or Settings.from_env()
        self.now = now
        self.lock = threading.RLock()
        self.status = ""  # indexing progress shown to every session ("" when idle)
        self.indexing = False
        self.indexing_ended = 0.0  # time.time() when indexing last finished
        self.clip_warm = False  # a text query has run: the model is loaded
        self._library = library
        self._parser = None

    @property
    def library(self) -> Any:
        """The shared Library, or None before one exists."""
        return self._library

    def set_library(self, library: Any) -> None:
        """Use another Library (e.g. once the demo is indexed); the parser is rebuilt."""
        with self.lock:
            self._library = library
            self._parser = None

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

    def library_note(self) -> str:
        """A one-line status for the page: no library, indexing, or what the library holds."""
        if self.indexing:
            return self.status or self.words.say("status", "indexing_start")
        if self._library is None:
            return self.words.say("status", "no_library")
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
        return text


# --- one session ---


@dataclass
class _Memory:
    """What one session remembers between messages."""

    query: Query | None = None  # the last search
    hits: list[Hit] = field(default_factory=list)  # its results, numbered from 1
    shown: int = 0  # how many of them have been shown
    faces: list[Picture] = field(default_factory=list)  # the faces last offered to pick from
    pending: tuple[str, Query | None] | None = None  # a search waiting for an unknown name
    pending_name: str | None = None
    upload: str | None = None  # the last uploaded photo


class Conversation:
    """One browser session's conversation: message in, `Reply` out."""

    def __init__(self, assistant: Assistant):
        self.assistant = assistant
        self.words = assistant.words
        self.memory = _Memory()

    # --- the entry point ---

    def respond(
        self, text: str, upload: str | None = None, status: StatusFn | None = None
    ) -> Reply:
        """Answer one message (optionally with an uploaded photo's path); never raises PirError."""
        status = status or (lambda _msg: None)
        note = ""
        limit = self.assistant.settings.chat_max_message  # the rest is ignored, and said so
        if len(text) > limit:
            text = text[:limit]
            note = self.words.say("search", "too_long", limit=limit)
        if upload:
            self.memory.upload = upload
        try:
            reply = self._dispatch(_normalise(text), upload, status)
        except PirError as err:
            reply = Reply(str(err), intent="error")
        if note:
            reply = replace(reply, text=f"{note}\n\n{reply.text}")
        return reply

    def _dispatch(self, text: str, upload: str | None, status: StatusFn) -> Reply:
        lib = self.assistant.library
        if lib is None:
            key = "indexing_start" if self.assistant.indexing else "no_library"
            return Reply(self.words.say("status", key), intent="no_library")
        if not self.assistant.indexing and not self.assistant.has_photos():
            return Reply(self.words.say("status", "empty_library"), intent="no_library")
        if upload:
            return self._upload(text, upload, status)
        if not text:
            return Reply(self._say_empty(), intent="empty")
        intent, match = self._intent(text)
        if intent in ("who_upload", "like_upload"):
            if self.memory.upload is None:
                return Reply(self.words.say("upload", "need_photo"), intent="usage")
            return self._upload(text, self.memory.upload, status)
        if intent == "usage":
            return Reply(self.words.say("errors", "usage", usage=match), intent="usage")
        if intent in WRITING_INTENTS and self.assistant.read_only:
            return Reply(self.words.say("errors", "read_only"), intent="read_only")
        if intent:
            return getattr(self, f"_on_{intent}")(_groups(match), status)
        if self.memory.query is not None and self._is_refinement(text):
            return self._refine(text, status)
        return self._search(self.assistant.parser.parse(text), status, source=(text, None))

    def _intent(self, text: str) -> tuple[str | None, Any]:
        """The first intent whose pattern matches the whole message; ("usage", hint) if malformed."""
        for name, pattern, _starts, _usage in self.words.intents:
            match = pattern.fullmatch(text)
            if match:
                return name, match
        for _name, _pattern, starts, usage in self.words.intents:
            if starts is not None and starts.match(text):
                return "usage", usage
        return None, None

    def _matches(self, intent: str, text: str) -> bool:
        return any(name == intent and p.fullmatch(text) for name, p, _s, _u in self.words.intents)

    # --- searches ---

    def _say_empty(self) -> str:
        return self.words.say("search", "empty", example=self._examples()["example_people"])

    def _search(
        self,
        query: Query,
        status: StatusFn,
        rerun_note: str = "",
        source: tuple[str, Query | None] | None = None,
    ) -> Reply:
        """Run a parsed query: ask about unknown names first, then show the first page.

        `source` is (text, base): how to parse the query again once a name is known (base is
        the search a refinement changes).
        """
        if query.unknown_names:
            return self._ask_unknown(query, source or (query.raw, None))
        if not (query.text or query.has_people or query.dates or query.places or query.only):
            return Reply(self._say_empty(), intent="empty", query=query)
        lib = self.assistant.library
        prefix = ""
        if query.text and not self._clip_ready(status):
            why = lib.clip.load_error or ""
            if not (query.has_people or query.dates or query.places or query.only):
                return Reply(
                    self.words.say("model", "missing", text=query.text, why=why),
                    intent="model_missing",
                    query=query,
                )
            prefix = self.words.say("model", "missing_filters_used", text=query.text, why=why)
            query = replace(query, text="")
        try:
            with self.assistant.lock:
                result = lib.search(query)
        except ModelUnavailable as err:
            return Reply(str(err), intent="model_missing", query=query)
        return self._show_result(result, prefix=" ".join(p for p in (rerun_note, prefix) if p))

    def _show_result(self, result: SearchResult, prefix: str = "") -> Reply:
        memory = self.memory
        memory.query = result.query
        memory.hits = list(result.hits)
        memory.shown = min(len(memory.hits), self._page())
        memory.pending = None
        memory.pending_name = None
        about = self._about(result.query)
        notes = " ".join(result.notes)
        if not memory.hits:
            text = self.words.say("search", "nothing", about=about)
        else:
            key = "found" if len(memory.hits) > memory.shown else "found_last"
            text = self.words.say(
                "search",
                key,
                count=memory.shown,
                are=plural(memory.shown, "is", "are"),
                photos=plural(memory.shown, "photo", "photos"),
                about=about,
                **self._refine_examples(),
            )
        text = " ".join(p for p in (prefix, text, notes) if p)
        return Reply(
            text,
            photos=self._pictures(0, memory.shown),
            intent="search",
            query=result.query,
        )

    def _page(self) -> int:
        return self.assistant.settings.chat_page_size

    def _about(self, query: Query) -> str:
        what = query.raw.strip() if query.raw else ""
        return self.words.say("search", "about", what=what) if what else ""

    def _pictures(self, start: int, stop: int) -> tuple[Picture, ...]:
        return tuple(
            _picture(n, hit, self.words)
            for n, hit in enumerate(self.memory.hits[start:stop], start + 1)
        )

    def _on_more(self, _args: dict, status: StatusFn) -> Reply:
        memory = self.memory
        if memory.query is None:
            example = self._examples()["example_people"]
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
        merged = refine_query(base, self.assistant.parser.parse(fragment), text)
        return self._search(merged, status, source=(fragment, base))

    def _refine_examples(self) -> dict[str, str]:
        ex = self._examples()
        return {"year": ex["year"], "someone": ex["name"]}

    # --- unknown names ---

    def _ask_unknown(self, query: Query, source: tuple[str, Query | None]) -> Reply:
        name = query.unknown_names[0]
        self.memory.pending = source
        self.memory.pending_name = name
        faces = self._unnamed_faces()
        self.memory.faces = list(faces)
        if not faces:
            return Reply(self.words.say("unknown", "ask_none", name=name), intent="ask_unknown")
        key = "ask" if len(query.unknown_names) == 1 else "many"
        names = ", ".join(query.unknown_names)
        text = self.words.say("unknown", key, name=name, names=names)
        return Reply(text, faces=faces, intent="ask_unknown", query=query)

    def _unnamed_faces(self) -> tuple[Picture, ...]:
        with self.assistant.lock:
            people = [p for p in self.assistant.library.people() if p.name is None]
        return tuple(
            Picture(
                number=n,
                image=p.crop,
                caption=self.words.say(
                    "picture",
                    "group",
                    n=n,
                    count=p.photo_count,
                    photo_word=plural(p.photo_count, "photo", "photos"),
                ),
                person_id=p.id,
            )
            for n, p in enumerate(people, 1)
        )

    # --- people ---

    def _clean_name(self, raw: str) -> str:
        """A person's name as the user typed it, tidied; raises InvalidInput when it is none."""
        name = raw.strip().strip("\"'“”‘’*").strip(" .!?,;:")
        name = re.sub(r"^(?:called|named|actually)\s+", "", name, flags=re.IGNORECASE)
        if not re.search(r"[^\W\d_]", name) or len(name) > MAX_NAME or re.search(r"\d", name):
            raise InvalidInput(self.words.say("errors", "bad_name", name=raw.strip()))
        if name == name.lower():
            name = " ".join(w[:1].upper() + w[1:] for w in name.split())
        return name

    def _hit(self, n: str | int) -> Hit:
        number = int(n)
        if not self.memory.hits:
            raise NotFound(self.words.say("errors", "no_photos_yet"))
        if not 1 <= number <= len(self.memory.hits):
            raise NotFound(
                self.words.say("errors", "no_photo_number", n=number, count=len(self.memory.hits))
            )
        return self.memory.hits[number - 1]

    def _changed(
        self, text: str, changes: Sequence[str] = (), status: StatusFn | None = None
    ) -> Reply:
        """A reply after a change to people: refresh the parser, re-run a pending search."""
        self.assistant.refresh()
        pending = self.memory.pending
        if pending is not None and status is not None:
            self.memory.pending = None
            text_to_parse, base = pending
            query = self.assistant.parser.parse(text_to_parse)
            if base is not None:
                query = refine_query(base, query, text_to_parse)
            rerun = self._search(query, status, rerun_note=text, source=pending)
            return replace(
                rerun, changes=tuple(changes), people_changed=True, intent="named_and_searched"
            )
        return Reply(text, changes=tuple(changes), people_changed=True, intent="people_changed")

    def _change(self, key: str, **values: Any) -> str:
        """One line of what changed in the library, for the reply's `changes`."""
        return self.words.say("changes", key, **values)

    def _naming_text(self, result: Any, label: str, key: str = "named", **extra: Any) -> str:
        joined = ""
        if getattr(result, "joined", 0):
            joined = self.words.say(
                "people",
                "joined",
                joined=result.joined,
                face_word2=plural(result.joined, "face", "faces"),
            )
        return self.words.say(
            "people",
            key,
            label=label,
            name=result.name,
            faces=result.faces,
            face_word=plural(result.faces, "face", "faces"),
            photos=result.photos,
            photo_word=plural(result.photos, "photo", "photos"),
            joined=joined,
            **extra,
        )

    def _on_name_person(self, args: dict, status: StatusFn) -> Reply:
        number = int(args["person"])
        raw_name = args.get("name")
        if raw_name is None:  # "she's number 2": the name is the one we asked about
            if self.memory.pending_name is None:
                return Reply(self.words.say("errors", "no_pending_name", n=number), intent="usage")
            raw_name = self.memory.pending_name
        name = self._clean_name(raw_name)
        # "person N" is the Nth face offered in the chat, or else the Nth unnamed group of the
        # people panel (the same order).
        faces = self.memory.faces or list(self._unnamed_faces())
        if not 1 <= number <= len(faces):
            text = self.words.say("errors", "no_person_number", n=number, count=len(faces))
            return Reply(text, faces=tuple(faces), intent="usage")
        person_id = faces[number - 1].person_id
        label = self.words.say("labels", "person", n=number)
        with self.assistant.lock:
            result = self.assistant.library.name_person(person_id, name)
        self.memory.faces = []
        text = self._naming_text(result, label)
        if self.memory.pending_name and self.memory.pending_name.lower() != name.lower():
            self.memory.pending = None  # they named someone else; the question still stands
        self.memory.pending_name = None
        return self._changed(text, [self._change("named", label=label, name=result.name)], status)

    def _on_name_photo(self, args: dict, status: StatusFn) -> Reply:
        return self._name_face_in(args["n"], args["name"], None, status)

    def _on_name_face(self, args: dict, status: StatusFn) -> Reply:
        return self._name_face_in(args["n"], args["name"], args["face"], status)

    def _name_face_in(self, n: str, raw_name: str, position: str | None, status: StatusFn) -> Reply:
        hit = self._hit(n)
        name = self._clean_name(raw_name)
        face = None
        if position is not None:
            with self.assistant.lock:
                faces = self.assistant.library.photo_faces(hit.path)
            face = self._face_number(position, len(faces))
            if face is None or not 1 <= face <= len(faces):
                key = "no_face_number" if face is not None else "face_position"
                text = self.words.say(
                    "errors",
                    key,
                    n=n,
                    count=len(faces),
                    face_word=plural(len(faces), "face", "faces"),
                    face=face,
                    position=position,
                    name=name,
                )
                return Reply(text, faces=self._face_pictures(faces), intent="usage")
        try:
            with self.assistant.lock:
                result = self.assistant.library.name_face(hit.path, name, face=face)
        except InvalidInput as err:
            # Several faces and no position: show them numbered so the user can pick.
            with self.assistant.lock:
                faces = self.assistant.library.photo_faces(hit.path)
            return Reply(str(err), faces=self._face_pictures(faces), intent="usage")
        label = self.words.say("labels", "photo", n=n)
        if face is None:
            text = self._naming_text(result, label)
        else:
            text = self._naming_text(result, "", key="named_face", face=face, n=n)
        return self._changed(text, [self._change("named", label=label, name=result.name)], status)

    def _face_number(self, position: str, count: int) -> int | None:
        """1-based face number for "left", "second", "2", …; None when it cannot be told."""
        word = position.lower()
        if word.isdigit():
            return int(word)
        if word in self.words.positions["left"]:
            return 1
        if word in self.words.positions["right"]:
            return count
        if word in self.words.positions["middle"]:
            return (count + 1) // 2 if count % 2 == 1 else None
        if word in self.words.positions["ordinals"]:
            return self.words.positions["ordinals"].index(word) + 1
        return None

    def _face_pictures(self, faces: Sequence[Any]) -> tuple[Picture, ...]:
        return tuple(
            Picture(
                number=f.index,
                image=f.crop,
                caption=(
                    self.words.say("picture", "face", face=f.index)
                    if _unnamed(f.label)
                    else self.words.say("picture", "face_named", face=f.index, label=f.label)
                ),
                person_id=f.person_id,
            )
            for f in faces
        )

    def _where(self, index: int, count: int) -> str:
        if count == 1:
            return self.words.say("who", "where_only")
        if index == 1:
            return self.words.say("who", "where_left")
        if index == count:
            return self.words.say("who", "where_right")
        return self.words.say("who", "where_middle")

    def _on_who_in_photo(self, args: dict, _status: StatusFn) -> Reply:
        n = args["n"]
        hit = self._hit(n)
        with self.assistant.lock:
            faces = self.assistant.library.photo_faces(hit.path)
        if not faces:
            return Reply(self.words.say("who", "nobody", n=n), intent="who_in_photo")
        parts = []
        for f in faces:
            where = self._where(f.index, len(faces))
            if not _unnamed(f.label):
                parts.append(
                    self.words.say("who", "known_face", label=f.label, face=f.index, where=where)
                )
            else:
                parts.append(self.words.say("who", "unknown_face", face=f.index, where=where, n=n))
        text = self.words.say("who", "in_photo", n=n, list="; ".join(parts))
        return Reply(text, faces=self._face_pictures(faces), intent="who_in_photo")

    def _on_not_person(self, args: dict, status: StatusFn) -> Reply:
        n = args.get("n") or args.get("n2") or args.get("n3")
        raw = args.get("name") or args.get("name2") or args.get("name3")
        hit = self._hit(n)
        name = self._clean_name(raw)
        with self.assistant.lock:
            self.assistant.library.unassign(hit.path, name)
        text = self.words.say("people", "unassigned", n=n, name=name)
        return self._changed(text, [self._change("unassigned", n=n, name=name)])

    def _person_ref(self, raw: str) -> str:
        """A person the user named: "person 2" is the 2nd face offered, when faces were offered."""
        m = re.fullmatch(r"(?:person|number|#)\s*(\d+)", raw.strip(), re.IGNORECASE)
        if not m:
            return self._clean_name(raw)
        faces = self.memory.faces or list(self._unnamed_faces())
        number = int(m.group(1))
        if not 1 <= number <= len(faces):
            raise NotFound(self.words.say("errors", "no_person_number", n=number, count=len(faces)))
        return person_label(faces[number - 1].person_id)  # the library's label of that group

    def _on_rename(self, args: dict, status: StatusFn) -> Reply:
        old = self._person_ref(args.get("old") or args.get("old2"))
        new = self._clean_name(args.get("new") or args.get("new2"))
        with self.assistant.lock:
            self.assistant.library.rename(old, new)
        return self._changed(
            self.words.say("people", "renamed", old=old, new=new),
            [self._change("renamed", old=old, new=new)],
        )

    def _on_merge(self, args: dict, status: StatusFn) -> Reply:
        a = self._person_ref(args.get("a") or args.get("a2"))
        b = self._person_ref(args.get("b") or args.get("b2"))
        with self.assistant.lock:
            self.assistant.library.merge(a, b)
        self.memory.faces = []
        text = self.words.say("people", "merged", a=a, b=b)
        return self._changed(text, [self._change("merged", a=a, b=b)])

    def _on_forget(self, args: dict, status: StatusFn) -> Reply:
        name = self._clean_name(args["name"])
        with self.assistant.lock:
            self.assistant.library.forget(name)
        text = self.words.say("people", "forgot", name=name)
        return self._changed(text, [self._change("forgot", name=name)])

    def _on_alias(self, args: dict, status: StatusFn) -> Reply:
        name = self._clean_name(args.get("name") or args.get("name2"))
        alias = self._clean_name(args.get("alias") or args.get("alias2"))
        with self.assistant.lock:
            self.assistant.library.add_alias(name, alias)
        text = self.words.say("people", "alias", name=name, alias=alias)
        return self._changed(text, [self._change("alias", alias=alias, name=name)])

    def _on_who_know(self, _args: dict, _status: StatusFn) -> Reply:
        with self.assistant.lock:
            people = list(self.assistant.library.people())
        named = [p for p in people if p.name]
        unnamed = self._unnamed_faces()
        self.memory.faces = list(unnamed)
        lines = []
        if named:
            lines.append(
                self.words.say(
                    "people",
                    "list_header",
                    count=len(named),
                    people_word=plural(len(named), "person", "people"),
                )
            )
            for p in named:
                aliases = (
                    self.words.say("people", "also", aliases=", ".join(p.aliases))
                    if p.aliases
                    else ""
                )
                lines.append(
                    self.words.say(
                        "people",
                        "list_item",
                        label=p.label,
                        photos=p.photo_count,
                        photo_word=plural(p.photo_count, "photo", "photos"),
                        aliases=aliases,
                    )
                )
            if unnamed:
                lines.append(
                    self.words.say(
                        "people",
                        "list_unnamed",
                        count=len(unnamed),
                        group_word=plural(len(unnamed), "group", "groups"),
                    )
                )
        else:
            hint = self.words.say("people", "hint_unnamed" if unnamed else "hint_no_faces")
            lines.append(self.words.say("people", "list_none", hint=hint))
        return Reply("\n".join(lines), faces=unnamed, intent="who_know")

    def _on_help(self, _args: dict, _status: StatusFn) -> Reply:
        ex = self._examples()
        notes = []
        lib = self.assistant.library
        if lib is not None and lib.clip.load_error:
            notes.append(self.words.say("model", "missing", text="…", why=lib.clip.load_error))
        if self.assistant.read_only:
            notes.append(self.words.say("errors", "read_only"))
        text = self.words.help.format(notes="\n".join(notes), **ex)
        return Reply(text.strip(), intent="help")

    def _examples(self) -> dict[str, str]:
        """Example queries built from the user's own library: real names, years and places."""
        lib = self.assistant.library
        names: list[str] = []
        years: list[int] = []
        places: list[str] = []
        if lib is not None:
            with self.assistant.lock:
                names = list(lib.people_names())
                places = list(lib.places())
                years = list(lib.years())
        stand_in = self.words.replies["examples"]["names"]
        name = names[0] if names else stand_in[0]
        other = (
            names[1] if len(names) > 1 else (stand_in[1] if name != stand_in[1] else stand_in[2])
        )
        year = str(years[0]) if years else str((self.assistant.now or datetime.now()).year - 1)
        say = self.words.say
        return {
            "name": name,
            "other": other,
            "year": year,
            "rename": name + "a" if not name.endswith("a") else name + "h",
            "alias": name[:3] if len(name) > 3 else name + "ie",
            "example_people": say("examples", "people", name=name, other=other),
            "example_date": say("examples", "date", name=name, year=year),
            "example_text": say("examples", "text", name=name, year=year),
            "example_place": (
                say("examples", "place", place=places[0]) if places else say("examples", "no_place")
            ),
        }

    # --- uploads ---

    def _upload(self, text: str, upload: str, status: StatusFn) -> Reply:
        """A message about an uploaded photo: who is in it, photos like it, photos of them."""
        from PIL import Image

        lib = self.assistant.library
        with Image.open(upload) as im:
            image = im.convert("RGB")
        if self._matches("who_upload", text) or re.search(r"(?i)\bwho\b", text):
            return self._who_upload(image)
        person = re.search(
            r"(?i)\b(?:this|that|the same) (?:person|guy|girl|man|woman|kid|child|baby)\b"
            r"|\b(?:him|her|them)\b",
            text,
        )
        if person:
            with self.assistant.lock:
                faces = lib.who_is(image)
            names = list(
                dict.fromkeys(f.label for f in faces if f.person_id is not None and f.label)
            )
            if not names:
                return Reply(self.words.say("upload", "person_unknown"), intent="upload_person")
            query = self.assistant.parser.parse(text[: person.start()] + " " + text[person.end() :])
            query = replace(query, people_all=_uniq(query.people_all, names), raw=text)
            note = ""
            if len(names) > 1:
                note = self.words.say("upload", "person_many", names=", ".join(names))
            return self._search(query, status, rerun_note=note)
        # Anything else with a photo: photos that look like it (any other words as a hint).
        if not self._clip_ready(status):
            like = self.words.say("upload", "like")
            why = lib.clip.load_error or ""
            return Reply(
                self.words.say("model", "missing", text=like, why=why), intent="model_missing"
            )
        hint = "" if self._matches("like_upload", text) else text
        with self.assistant.lock:
            result = lib.search_like(image, text=hint)
        return self._show_result(result)

    def _clip_ready(self, status: StatusFn) -> bool:
        """Whether CLIP loads; says "loading the model" first when it has not run yet."""
        lib = self.assistant.library
        if not self.assistant.clip_warm:
            status(self.words.say("model", "loading"))
        with self.assistant.lock:
            available = lib.clip.is_available()
        self.assistant.clip_warm = available
        return available

    def _who_upload(self, image: Any) -> Reply:
        with self.assistant.lock:
            faces = self.assistant.library.who_is(image)
        if not faces:
            return Reply(self.words.say("who", "upload_nobody"), intent="who_upload")
        parts = []
        for f in faces:
            where = self._where(f.index, len(faces))
            if f.person_id is not None and f.label:
                parts.append(
                    self.words.say("who", "upload_known", label=f.label, face=f.index, where=where)
                )
            else:
                parts.append(self.words.say("who", "upload_unknown", face=f.index, where=where))
        text = self.words.say("who", "upload", list="; ".join(parts))
        return Reply(text, faces=self._face_pictures(faces), intent="who_upload")


# --- pure helpers (tested without a library) ---


def _groups(match: Any) -> dict[str, str]:
    """A match's named groups, alternatives folded: "n2" fills "n" when "n" is empty."""
    found = {k: v for k, v in match.groupdict().items() if v is not None}
    for key in list(found):
        base = key.rstrip("0123456789")
        found.setdefault(base, found[key])
    return found


def _uniq(*groups: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for group in groups for name in group))


def refine_query(base: Query, part: Query, raw: str) -> Query:
    """The last search changed by a refinement: new filters replace or add to the old ones."""
    none = _uniq(base.people_none, part.people_none)
    return Query(
        raw=f"{base.raw} — {raw}",
        text=part.text or base.text,
        people_all=tuple(p for p in _uniq(base.people_all, part.people_all) if p not in none),
        people_any=tuple(p for p in _uniq(base.people_any, part.people_any) if p not in none),
        people_none=none,
        only=base.only or part.only,
        unknown_names=part.unknown_names,
        dates=part.dates or base.dates,
        places=part.places or base.places,
        limit=part.limit or base.limit,
    )


def _unnamed(label: str | None) -> bool:
    """Whether a library label is no name: none, or an unnamed group's "person 7"."""
    return not label or labelled_person(label) is not None


def _picture(number: int, hit: Hit, words: Words) -> Picture:
    """A numbered gallery picture for one hit, with a short caption and the larger view's text."""
    date = (hit.taken_at or "")[:10]
    file = Path(hit.path).name
    # Unnamed groups are numbered by the chat's own "person N", not the library's label.
    names = ", ".join(dict.fromkeys(p.name for p in hit.people if not _unnamed(p.name)))
    bits = " · ".join(b for b in (date, hit.place, names) if b)
    caption = (
        words.say("picture", "caption", number=number, bits=bits)
        if bits
        else words.say("picture", "caption_file", number=number, file=file)
    )
    lines = [words.say("picture", "title", number=number, file=file)]
    if hit.taken_at:
        lines.append(words.say("picture", "date", date=hit.taken_at.replace("T", " ")))
    if hit.place:
        lines.append(words.say("picture", "place", place=hit.place))
    if names:
        lines.append(words.say("picture", "people", names=names))
    if hit.reasons:
        lines.append(words.say("picture", "why", reasons="; ".join(hit.reasons)))
    return Picture(
        number=number,
        image=hit.thumbnail or hit.path,
        caption=caption,
        photo_id=hit.photo_id,
        details="\n".join(lines),
    )
