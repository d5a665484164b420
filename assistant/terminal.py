"""The chat in a terminal: one message a line in, one reply out (`python app.py chat`).

The same `Conversation` as the web page. Replies are printed as plain text, or with
`--json` as one JSON object a line: {"text", "photos": [absolute paths in the order
shown], "videos": [{"path", "kind", "time_s"} of the videos among them], "faces":
[{"number", "caption", "person_id"}]} — for scripts and tests.
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
    # Escaped characters are set aside first, so "a\\_b\\_c" is no emphasis.
    kept: list[str] = []

    def keep(m: re.Match[str]) -> str:
        kept.append(m.group(1))
        return f"\ue000{len(kept) - 1}\ue001"

    text = _MD_ESCAPE.sub(keep, markdown)
    text = _MD_EMPHASIS.sub(r"\2", text)
    text = _MD_EMPHASIS.sub(r"\2", text)  # "***a***": bold inside italics
    text = re.sub("\ue000(\\d+)\ue001", lambda m: kept[int(m.group(1))], text)
    return html.unescape(text)


def reply_json(reply: Reply) -> dict:
    """One reply as the terminal chat's JSON object."""
    return {
        "text": plain_text(reply.text),
        "photos": [p.path or p.image for p in reply.photos],
        # The videos among them, each with the second of the moment shown (search --json's
        # "kind" and "time_s").
        "videos": [
            {"path": p.path or p.image, "kind": "video", "time_s": p.clip_at}
            for p in reply.photos
            if p.clip_at is not None
        ],
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
