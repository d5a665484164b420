"""What an intent handler is handed: one session's memory and the few shared things it may use.

Handlers (`naming`, `uploads`, `answers`) take a `Context` and return a `Reply`; they never
import the conversation that dispatches them. The search-and-show step, paging and parsing
come in as plain callables.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.replies import Picture, Reply, Words
from index.types import Hit, Query, SearchResult

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


class Locked:
    """The shared library with every call under the assistant's lock (one catalog connection)."""

    def __init__(self, library: Any, lock: threading.RLock):
        self._library = library
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._library, name)
        if not callable(attr):
            return attr

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return locked


@dataclass
class Context:
    """One message's view of the session: memory, library, words and the shared steps."""

    memory: Memory
    library: Any  # the Library, every call locked (see `Locked`)
    words: Words
    read_only: bool
    status: StatusFn
    search: Callable[..., Reply]  # search(query, note="", source=None): run and show a search
    show: Callable[[SearchResult], Reply]  # show a result the library already found
    more: Callable[[], Reply]  # the next page of the last search
    resume: Callable[[str], Reply | None]  # re-run a search that waited for a name (or None)
    parse: Callable[[str], Query]  # text -> Query, with the library's names and places
    examples: Callable[[], dict[str, str]]  # example requests from the user's own library
    refresh: Callable[[], None]  # tell the parser about changed names
