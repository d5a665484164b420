"""What an intent handler is handed: one session's memory and the one shared object it may use.

Handlers (`naming`, `uploads`, `answers`, `showing`) take a `Context` and return a `Reply`;
they never import the conversation that dispatches them, and nothing in a `Context` points
back into it. A `Context` is one session's `Memory`, the `Shared` state of every session (the
library, the wording, the parser; `Assistant` in conversation.py is the one there is) and the
status line of this message. The search-and-show step is a room of its own (`showing`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, is_dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Protocol, cast

from assistant.replies import Picture, Reply, Wording
from index.settings import Settings
from index.types import Hit, Query

if TYPE_CHECKING:
    from assistant.query import QueryParser
    from index.library import Library

StatusFn = Callable[[str], None]
# How many recent answers' pictures a session keeps for clicks on them (memory stays bounded).
RECENT_TURNS = 40


@dataclass
class Confirm:
    """An edit waiting for the user's "yes": what to ask, and what to do then."""

    question: str
    action: Callable[[], Reply]


@dataclass
class Memory:
    """What one session remembers between messages."""

    query: Query | None = None  # the last search
    hits: list[Hit] = field(default_factory=list)  # its results, numbered from 1
    shown: int = 0  # how many of them have been shown
    pending: tuple[str, Query | None] | None = None  # a search waiting for an unknown name
    pending_name: str | None = None
    upload: str | None = None  # the last uploaded photo (a path; opened when used)
    confirm: Confirm | None = None  # an edit that asked first
    model_note_said: bool = False  # "no image model" is said once per session
    # This session's people changes, newest last: (what it did, in words; how to reverse it,
    # or None for a change that cannot be undone), for "undo".
    undo: list[tuple[str, Callable[[], object] | None]] = field(default_factory=list)
    turn: int = 0
    # "person N" in this session: N -> person id, fixed once shown (never renumbered).
    person_numbers: dict[int, int] = field(default_factory=dict)
    # The name each shown person had when this session last saw it (None: unnamed).
    seen_names: dict[int, str | None] = field(default_factory=dict)
    recent: OrderedDict[int, tuple[tuple[Picture, ...], tuple[Picture, ...]]] = field(
        default_factory=OrderedDict
    )

    def number_of(self, person_id: int, name: str | None) -> int:
        """This session's "person N" for a group of faces; a new group gets the next number."""
        self.seen_names[person_id] = name
        for number, pid in self.person_numbers.items():
            if pid == person_id:
                return number
        number = len(self.person_numbers) + 1
        self.person_numbers[number] = person_id
        return number

    def remember(self, reply: Reply) -> None:
        """Keep a reply's pictures for clicks on them, dropping the oldest beyond the limit."""
        if reply.photos or reply.faces:
            self.recent[reply.turn] = (reply.photos, reply.faces)
            while len(self.recent) > RECENT_TURNS:
                self.recent.popitem(last=False)


class Shared(Protocol):
    """What every session shares (`conversation.Assistant`): the library, wording, parser, lock."""

    wording: Wording
    read_only: bool
    settings: Settings
    lock: threading.RLock

    @property
    def library(self) -> Library | None: ...

    @property
    def parser(self) -> QueryParser: ...

    def examples(self) -> dict[str, str]: ...

    def refresh(self) -> None: ...


# What a locked library hands out as it is: values, not rooms with methods that read the catalog.
_PLAIN = (str, bytes, int, float, bool, type(None), PurePath, tuple, frozenset, Settings)


class _Locked:
    """A library whose every call runs under a lock (see `locked`), and so do the calls of the
    rooms reached through it (`library.people.rename(...)`): they share its catalog connection."""

    def __init__(self, target: object, lock: threading.RLock):
        self._target = target
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if callable(attr):

            def call(*args: Any, **kwargs: Any) -> Any:
                with self._lock:
                    return attr(*args, **kwargs)

            return call
        if isinstance(attr, _PLAIN) or is_dataclass(attr):
            return attr
        return _Locked(attr, self._lock)


def locked(library: Library, lock: threading.RLock) -> Library:
    """The shared library with every call under the assistant's lock (one catalog connection).

    Typed as the `Library` it wraps, so handlers are checked against the real front door.
    """
    return cast("Library", _Locked(library, lock))


@dataclass
class Context:
    """One message's view of the session: its memory, what all sessions share, its status line."""

    memory: Memory
    shared: Shared
    status: StatusFn = lambda _message: None

    @property
    def library(self) -> Library:
        """The shared Library, every call (its rooms' calls too: `people`) under the shared lock."""
        library = self.shared.library
        if library is None:
            raise RuntimeError("a handler ran before there was a library")
        return locked(library, self.shared.lock)

    @property
    def wording(self) -> Wording:
        """The reply templates and phrase lists of prompts/."""
        return self.shared.wording

    @property
    def read_only(self) -> bool:
        """Whether this link may change nothing (a guest)."""
        return self.shared.read_only

    @property
    def settings(self) -> Settings:
        """The settings of the chat (page size, message limit, …)."""
        return self.shared.settings

    def parse(self, text: str) -> Query:
        """Text -> Query, with the library's names and places."""
        parser = self.shared.parser
        with self.shared.lock:
            return parser.parse(text)

    def examples(self) -> dict[str, str]:
        """Example requests from the user's own library."""
        return self.shared.examples()

    def refresh(self) -> None:
        """Tell the parser about changed names."""
        self.shared.refresh()
