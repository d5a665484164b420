"""A photo the user uploads: who is in it, photos like it, photos of the same person.

The file is opened by the library (`Library.open_upload`), which checks the size and pixel
limits before decoding and turns a non-image, empty, truncated or oversized file into one
clear sentence; nothing here decodes pixels.
"""

from __future__ import annotations

import re
from dataclasses import replace

from assistant import showing
from assistant.answers import face_pictures, model_note, where
from assistant.context import Context
from assistant.replies import Reply, join, unnamed

_WHO = re.compile(r"(?i)\bwho\b")
_PERSON = re.compile(
    r"(?i)\b(?:this|that|the same) (?:person|guy|girl|man|woman|kid|child|baby)\b"
    r"|\b(?:him|her|them)\b"
)


def answer(ctx: Context, text: str, path: str, asks_who: bool, asks_like: bool) -> Reply:
    """A message about an uploaded photo: who is in it, photos like it, photos of them."""
    image = ctx.library.open_upload(path)  # InvalidInput with one sentence when unusable
    if asks_who or _WHO.search(text):
        return _who(ctx, image)
    person = _PERSON.search(text)
    if person:
        return _same_person(ctx, text, image, person)
    # Anything else with a photo: photos that look like it (other words are a hint).
    if not ctx.library.text_model_ready():
        note = model_note(ctx) or ctx.wording.say("model", "missing_again")
        return Reply(note, intent="model_missing")
    result = ctx.library.search_like(image, text="" if asks_like else text)
    return showing.show(ctx, result)


def who_upload(ctx: Context, _args: dict) -> Reply:
    """ "who is this?" about the last uploaded photo."""
    return _again(ctx, asks_who=True)


def like_upload(ctx: Context, _args: dict) -> Reply:
    """ "find photos like this" about the last uploaded photo."""
    return _again(ctx, asks_like=True)


def _again(ctx: Context, asks_who: bool = False, asks_like: bool = False) -> Reply:
    if ctx.memory.upload is None:
        return Reply(ctx.wording.say("upload", "need_photo"), intent="usage")
    return answer(ctx, "", ctx.memory.upload, asks_who, asks_like)


def _who(ctx: Context, image: object) -> Reply:
    faces = ctx.library.people.who_is(image)
    if not faces:
        return Reply(ctx.wording.say("who", "upload_nobody"), intent="who_upload")
    parts = []
    for f in faces:
        at = where(ctx, f.index, len(faces))
        if unnamed(f.label, f.person_id):
            parts.append(ctx.wording.say("who", "upload_unknown", face=f.index, where=at))
        else:
            parts.append(
                ctx.wording.say("who", "upload_known", label=f.label, face=f.index, where=at)
            )
    text = ctx.wording.say("who", "upload", list=join(parts))
    return Reply(text, faces=face_pictures(ctx, faces), intent="who_upload")


def _same_person(ctx: Context, text: str, image: object, person: re.Match) -> Reply:
    faces = ctx.library.people.who_is(image)
    names = list(dict.fromkeys(f.label for f in faces if not unnamed(f.label, f.person_id)))
    if not names:
        key = "person_unknown_guest" if ctx.read_only else "person_unknown"
        return Reply(ctx.wording.say("upload", key), intent="upload_person")
    query = ctx.parse(text[: person.start()] + " " + text[person.end() :])
    query = replace(query, people_all=tuple(dict.fromkeys((*query.people_all, *names))), raw=text)
    note = ""
    if len(names) > 1:
        note = ctx.wording.say("upload", "person_many", names=", ".join(names))
    return showing.search(ctx, query, note=note)
