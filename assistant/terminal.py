"""The chat in a terminal: one message a line in, one reply out (`python app.py chat`).

The same `Conversation` as the web page. Replies are printed as plain text, or with
`--json` as one JSON object a line: {"text", "photos": [absolute paths in the order
shown], "faces": [{"number", "caption", "person_id"}]} — for scripts and tests.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator
from typing import IO

from assistant.conversation import Assistant
from assistant.replies import Reply

_MD_ESCAPE = re.compile(r"\\([\\`*_\[\]{}|~#])")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_)(?=\S)(.+?)(?<=\S)\1")


def plain_text(markdown: str) -> str:
    """A reply's Markdown as a person reads it: no asterisks, no escapes, no entities."""
    text = _MD_EMPHASIS.sub(r"\2", markdown)
    text = _MD_EMPHASIS.sub(r"\2", text)  # "***a***": bold inside italics
    return html.unescape(_MD_ESCAPE.sub(r"\1", text))


def reply_json(reply: Reply) -> dict:
    """One reply as the terminal chat's JSON object."""
    return {
        "text": plain_text(reply.text),
        "photos": [p.path or p.image for p in reply.photos],
        "faces": [
            {"number": f.number, "caption": f.caption, "person_id": f.person_id}
            for f in reply.faces
        ],
    }


def reply_lines(reply: Reply) -> str:
    """One reply as plain text: the words, then the numbered photos and faces."""
    lines = [plain_text(reply.text)]
    lines += [f"  {p.caption}  {p.path or p.image}" for p in reply.photos]
    lines += [f"  person {f.number}: {f.caption}" for f in reply.faces if f.caption]
    return "\n".join(lines)


def typed(prompt: str) -> Iterator[str]:
    """Lines typed at a terminal, with a prompt and line editing, until end of input."""
    import readline  # noqa: F401 - importing it gives input() history and editing

    while True:
        try:
            yield input(prompt)
        except EOFError:
            print()
            return


def chat(assistant: Assistant, messages: Iterable[str], out: IO[str], as_json: bool) -> int:
    """Answer each line of `messages` in one session; blank lines are skipped."""
    session = assistant.new_session()
    for line in messages:
        message = line.rstrip("\n")
        if not message.strip():
            continue
        reply = session.respond(message)
        if as_json:
            out.write(json.dumps(reply_json(reply), ensure_ascii=False) + "\n")
        else:
            out.write(reply_lines(reply) + "\n\n")
        out.flush()
    return 0
