"""What a message asks for: the intents of `prompts/intents.toml` and the handler of each.

`HANDLERS` is the registry; `Intents(wording)` compiles the patterns and checks, at start,
that every intent in the file has a handler (and every handler an intent), so a typo in
the file is an error when the app starts, not at some user's first message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from assistant import answers, duplicate_groups, naming, questions, showing, uploads
from assistant.context import Context
from assistant.replies import Reply, Wording

Handler = Callable[[Context, dict[str, str]], Reply]

HANDLERS: dict[str, Handler] = {
    "help": answers.help_,
    "who_know": answers.who_know,
    "more": showing.more,
    "who_in_photo": answers.who_in_photo,
    "how_many": questions.how_many,
    "when": questions.when,
    "which_periods": questions.which_periods,
    "where_photo": questions.where_photo,
    "where_person": questions.where_person,
    "who_with": questions.who_with,
    "what_in_photo": questions.what_in_photo,
    "cannot": questions.cannot,
    "who_upload": uploads.who_upload,
    "like_upload": uploads.like_upload,
    "confirm": naming.confirm,
    "cancel": naming.cancel,
    "not_person": naming.not_person,
    "name_face": naming.name_face,
    "name_photo": naming.name_photo,
    "name_person": naming.name_person,
    "rename": naming.rename,
    "merge": naming.merge,
    "alias": naming.alias,
    "forget": naming.forget,
    "undo": naming.undo,
    "duplicates": duplicate_groups.duplicates,
}
# Intents that change the library: refused on a read-only link, before anything is looked up.
WRITING = frozenset(
    {"name_person", "name_photo", "name_face", "not_person", "rename", "merge", "alias", "forget"}
    | {"confirm", "undo"}
)


@dataclass(frozen=True)
class Intent:
    """One intent of the file: its name, its pattern, and how to recognise a malformed try."""

    name: str
    pattern: re.Pattern[str]
    starts: re.Pattern[str] | None
    usage: str


class Intents:
    """The intents of `prompts/intents.toml`, in order, each with its handler."""

    def __init__(self, wording: Wording, handlers: dict[str, Handler] = HANDLERS):
        items = wording.intents["intent"]
        names = [item["name"] for item in items]
        missing = sorted(set(names) - set(handlers))
        unused = sorted(set(handlers) - set(names))
        if missing or unused:
            raise RuntimeError(
                "prompts/intents.toml and assistant/intents.py disagree: "
                + (f"no handler for {', '.join(missing)}. " if missing else "")
                + (f"no intent in the file for {', '.join(unused)}." if unused else "")
            )
        self.handlers = handlers
        self.items = [
            Intent(
                item["name"],
                re.compile(item["pattern"], re.IGNORECASE),
                re.compile(item["starts"], re.IGNORECASE) if item.get("starts") else None,
                item.get("usage", ""),
            )
            for item in items
        ]

    def match(self, text: str) -> tuple[str | None, Any]:
        """The first intent whose pattern matches the whole message; ("usage", hint) if malformed."""
        for intent in self.items:
            found = intent.pattern.fullmatch(text)
            if found:
                return intent.name, found
        for intent in self.items:
            if intent.starts is not None and intent.starts.match(text):
                return "usage", intent.usage
        return None, None

    def matches(self, name: str, text: str) -> bool:
        """Whether `text` says intent `name`."""
        return any(i.name == name and i.pattern.fullmatch(text) for i in self.items)

    def handle(self, name: str, ctx: Context, match: Any) -> Reply:
        """Run the handler of intent `name` on a match."""
        return self.handlers[name](ctx, groups(match))


def groups(match: Any) -> dict[str, str]:
    """A match's named groups, alternatives folded: "n2" fills "n" when "n" is empty."""
    found = {k: v for k, v in match.groupdict().items() if v is not None}
    for key in list(found):
        base = key.rstrip("0123456789")
        found.setdefault(base, found[key])
    return found
