"""Answers that change nothing: help, who do you know, who is in photo N, and faces to pick.

Unnamed groups of faces are offered under this session's own "person N" numbers
(`Memory.number_of`), which never move once shown, whatever other sessions name.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from assistant.context import Context
from assistant.replies import Md, Picture, Reply, join, plural, unnamed
from index.errors import NotFound

log = logging.getLogger("pir.chat")
_logged: set[str] = set()  # model problems already written to the log


def help_(ctx: Context, _args: dict) -> Reply:
    """The help text, with examples from the user's own library."""
    notes = []
    note = model_note(ctx)
    if note:
        notes.append(note)
    if ctx.read_only:
        notes.append(ctx.wording.say("errors", "read_only"))
    template = ctx.wording.help_guest if ctx.read_only else ctx.wording.help
    text = template.format(notes="\n\n".join(notes), **ctx.examples())
    return Reply(text.strip(), intent="help")


def model_note(ctx: Context) -> str:
    """One plain sentence when searching by description cannot work here; said once a session.

    The how-to (what is missing, how to get it) goes to the server's log, once.
    """
    problem = ctx.library.text_model_problem()
    if problem is None:
        return ""
    if problem not in _logged:
        _logged.add(problem)
        log.warning("Searching by description is off: %s", problem)
    if ctx.memory.model_note_said:
        return ""
    ctx.memory.model_note_said = True
    return ctx.wording.say("model", "missing")


def unnamed_offer(ctx: Context) -> tuple[Picture, ...]:
    """The unnamed groups of faces, each under its session number, in number order."""
    people = [p for p in ctx.library.people.everyone() if p.name is None]
    pictures = []
    for p in people:
        number = ctx.memory.number_of(p.id, None)
        caption = ctx.wording.plain(
            "picture",
            "group",
            n=number,
            count=p.photo_count,
            photo_word=plural(p.photo_count, "photo", "photos"),
        )
        pictures.append(Picture(number=number, image=p.crop, caption=caption, person_id=p.id))
    return tuple(sorted(pictures, key=lambda pic: pic.number))


def person_by_number(ctx: Context, number: int) -> int:
    """The person id this session showed as "person N"; NotFound when it showed none."""
    if not ctx.memory.person_numbers:
        unnamed_offer(ctx)  # nothing shown yet: number the groups as the people panel does
    person_id = ctx.memory.person_numbers.get(number)
    if person_id is None:
        count = len(ctx.memory.person_numbers)
        raise NotFound(ctx.wording.say("errors", "no_person_number", n=number, count=count))
    return person_id


def face_pictures(ctx: Context, faces: Sequence[Any]) -> tuple[Picture, ...]:
    """Numbered face crops of one photo, left to right, captioned with known names."""
    return tuple(
        Picture(
            number=f.index,
            image=f.crop,
            caption=(
                ctx.wording.plain("picture", "face", face=f.index)
                if unnamed(f.label, f.person_id)
                else ctx.wording.plain("picture", "face_named", face=f.index, label=f.label)
            ),
            person_id=f.person_id,
        )
        for f in faces
    )


def where(ctx: Context, index: int, count: int) -> Md:
    """Where face `index` of `count` sits, in words."""
    if count == 1:
        return ctx.wording.say("who", "where_only")
    if index == 1:
        return ctx.wording.say("who", "where_left")
    if index == count:
        return ctx.wording.say("who", "where_right")
    return ctx.wording.say("who", "where_middle")


def hit(ctx: Context, n: str | int) -> Any:
    """The hit shown as "photo N" in this session's last search."""
    number = int(n)
    hits = ctx.memory.hits
    if not hits:
        raise NotFound(ctx.wording.say("errors", "no_photos_yet"))
    if not 1 <= number <= len(hits):
        raise NotFound(ctx.wording.say("errors", "no_photo_number", n=number, count=len(hits)))
    return hits[number - 1]


def who_in_photo(ctx: Context, args: dict) -> Reply:
    """Who is in photo N: names, and unknown faces numbered from the left."""
    n = args["n"]
    faces = ctx.library.people.photo_faces(hit(ctx, n).path)
    if not faces:
        return Reply(ctx.wording.say("who", "nobody", n=n), intent="who_in_photo")
    unknown_key = "unknown_face_guest" if ctx.read_only else "unknown_face"
    parts = []
    for f in faces:
        at = where(ctx, f.index, len(faces))
        if unnamed(f.label, f.person_id):
            parts.append(ctx.wording.say("who", unknown_key, face=f.index, where=at, n=n))
        else:
            parts.append(
                ctx.wording.say("who", "known_face", label=f.label, face=f.index, where=at)
            )
    text = ctx.wording.say("who", "in_photo", n=n, list=join(parts))
    return Reply(text, faces=face_pictures(ctx, faces), intent="who_in_photo")


def who_know(ctx: Context, _args: dict) -> Reply:
    """The named people with their photo counts, and the unnamed groups offered to name."""
    say = ctx.wording.say
    named = [p for p in ctx.library.people.everyone() if p.name]
    offered = unnamed_offer(ctx)
    guest = ctx.read_only
    lines = []
    if named:
        word = plural(len(named), "person", "people")
        lines.append(say("people", "list_header", count=len(named), people_word=word))
        for p in named:
            ctx.memory.seen_names[p.id] = p.name
            aliases = say("people", "also", aliases=", ".join(p.aliases)) if p.aliases else ""
            lines.append(
                say(
                    "people",
                    "list_item",
                    label=p.label,
                    photos=p.photo_count,
                    photo_word=plural(p.photo_count, "photo", "photos"),
                    aliases=aliases,
                )
            )
        if offered:
            lines.append(
                say(
                    "people",
                    "list_unnamed_guest" if guest else "list_unnamed",
                    count=len(offered),
                    group_word=plural(len(offered), "group", "groups"),
                )
            )
    else:
        if offered:
            hint = say("people", "hint_unnamed_guest" if guest else "hint_unnamed")
        else:
            hint = say("people", "hint_no_faces")
        lines.append(say("people", "list_none", hint=hint))
    return Reply("\n".join(lines), faces=offered, intent="who_know")
