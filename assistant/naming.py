"""Teaching the library who people are, by talking: name, rename, merge, alias, forget, unassign.

Three rules keep edits trustworthy when several people share one link:
- "person N" means the group this session showed under that number (`answers.person_by_number`);
- a group someone else named since this session saw it is not renamed silently: we ask first;
- an edit that puts clearly different faces into one person asks first, saying how different
  they are; "yes" goes ahead, "no" (or anything else) leaves the library as it was.
Replies say what actually changed, in the words the user saw.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from assistant import clarify, showing
from assistant.answers import face_pictures, hit, person_by_number
from assistant.context import Confirm, Context
from assistant.replies import Md, Reply, plural, unnamed
from index.errors import Conflict, InvalidInput, NotFound

_PERSON_REF = re.compile(r"(?:person|number|no\.?|#)\s*(\d+)", re.IGNORECASE)


# --- names and references ---


def clean_name(ctx: Context, raw: str) -> str:
    """A person's name as the user typed it, tidied and checked by the library's rules."""
    name = raw.strip().strip("\"'“”‘’*").strip(" !?,;:")
    name = re.sub(r"^(?:called|named|actually)\s+", "", name, flags=re.IGNORECASE)
    if not re.search(r"[^\W\d_]", name):  # digits beside letters: the library says why
        raise InvalidInput(ctx.wording.say("errors", "bad_name", name=raw.strip()))
    name = ctx.library.people.check_name(name)  # InvalidInput with the reason when it is no name
    if name == name.lower():
        name = " ".join(w[:1].upper() + w[1:] for w in name.split())
    return name


def person_ref(ctx: Context, raw: str) -> tuple[int | str, str]:
    """(what the library understands, what the user called it) for "person 2" or a name."""
    m = _PERSON_REF.fullmatch(raw.strip())
    if m:
        number = int(m.group(1))
        return person_by_number(ctx, number), ctx.wording.say("labels", "person", n=number)
    name = known_as(ctx, clean_name(ctx, raw))
    return name, name


def known_as(ctx: Context, name: str) -> str:
    """A person as the library knows them: "Angelina" or "Jolie" -> "Angelina Jolie" when only
    one person is called so; a part two people share is refused, naming both."""
    people = ctx.library.people.names()
    low = name.lower()
    if any(low == n.lower() or low in map(str.lower, a) for n, a in people.items()):
        return name
    query = ctx.parse(name)
    if query.ambiguous:
        raise InvalidInput(clarify.which_one(ctx, query).text)
    found = (*query.people_all, *query.people_any)
    if len(found) == 1 and not (query.text or query.unknown_names or query.dates or query.places):
        return found[0]
    return name


def _count(result: Any) -> dict[str, Any]:
    return {
        "faces": result.faces,
        "face_word": plural(result.faces, "face", "faces"),
        "photos": result.photos,
        "photo_word": plural(result.photos, "photo", "photos"),
    }


def naming_text(ctx: Context, result: Any, label: str, key: str = "named", **extra: Any) -> Md:
    """The reply to a naming: who it is now, how many faces and photos, how many joined."""
    joined = ""
    if getattr(result, "joined", 0):
        joined = ctx.wording.say(
            "people",
            "joined",
            joined=result.joined,
            face_word2=plural(result.joined, "face", "faces"),
        )
    return ctx.wording.say(
        "people", key, label=label, name=result.name, joined=joined, **_count(result), **extra
    )


def changed(
    ctx: Context,
    text: str,
    changes: list[str],
    undo: Callable[[], object] | None = None,
    answers: bool = False,
) -> Reply:
    """A reply after a change to people: refresh the parser, keep how to undo it, and re-run
    the search that waited for a name when this change `answers` the question; any other
    change closes the open question, its own confirmation being the answer."""
    ctx.refresh()
    if changes:
        ctx.memory.undo.append(("; ".join(changes), undo))
    if not answers:
        ctx.memory.pending = None
        ctx.memory.pending_name = None
    rerun = showing.resume(ctx, text) if answers else None
    if rerun is not None:
        return replace(
            rerun, changes=tuple(changes), people_changed=True, intent="named_and_searched"
        )
    return Reply(text, changes=tuple(changes), people_changed=True, intent="people_changed")


def ask(ctx: Context, question: str, action: Any) -> Reply:
    """Ask before an edit; `action` runs on "yes"."""
    ctx.memory.confirm = Confirm(question, action)
    return Reply(question, intent="confirm_asked")


def far_apart(ctx: Context, gap: float | None) -> bool:
    """Whether two groups' closest faces are further apart than one person's usually are."""
    return gap is not None and gap > ctx.library.settings.face_max_distance


def gap_words(ctx: Context, gap: float) -> dict[str, Any]:
    """The numbers of the "they look different" question."""
    return {"gap": f"{gap:.2f}", "usual": f"{ctx.library.settings.face_max_distance:.2f}"}


# --- yes / no ---


def confirm(ctx: Context, _args: dict) -> Reply:
    """ "yes": do the edit that asked first."""
    waiting = ctx.memory.confirm
    ctx.memory.confirm = None
    if waiting is None:
        return Reply(ctx.wording.say("people", "nothing_to_confirm"), intent="usage")
    return waiting.action()


def cancel(ctx: Context, _args: dict) -> Reply:
    """ "no": drop the edit that asked first."""
    waiting = ctx.memory.confirm
    ctx.memory.confirm = None
    key = "cancelled" if waiting is not None else "nothing_to_confirm"
    return Reply(ctx.wording.say("people", key), intent="usage")


# --- naming ---


def name_person(ctx: Context, args: dict) -> Reply:
    """ "person 2 is Carol": name the group this session showed as person 2."""
    number = int(args["person"])
    raw_name = args.get("name")
    if raw_name is None:  # "she's number 2": the name is the one we asked about
        if ctx.memory.pending_name is None:
            text = ctx.wording.say("errors", "no_pending_name", n=number)
            return Reply(text, intent="usage")
        raw_name = ctx.memory.pending_name
    name = clean_name(ctx, raw_name)
    person_id = person_by_number(ctx, number)
    label = ctx.wording.say("labels", "person", n=number)
    seen = ctx.memory.seen_names.get(person_id)
    current = _name_of(ctx, person_id)
    # A name this session saw is replaced only after asking (one named meanwhile by someone
    # else is asked about below, in other words).
    if current is not None and current == seen and current.lower() != name.lower():
        if _part_of(name, current):  # "person 8 is Martin" for Alice Martin: already so
            text = ctx.wording.say("people", "already", label=label, name=current)
            return changed(ctx, text, [], answers=_answers(ctx, name))
        return _ask_to_rename(ctx, "rename_group", person_id, label, name, current)
    other = _person_called(ctx, name)
    if other is not None and other != person_id:
        # The name is someone else's: saying so is saying they are one person.
        return _merge(ctx, person_id, label, name, name)
    try:
        result = ctx.library.people.name_person(person_id, name, check=True, expected_name=seen)
    except NotFound:
        return Reply(ctx.wording.say("people", "gone", label=label), intent="usage")
    except Conflict as err:
        current = err.current
        if current is None or current.lower() == name.lower():
            result = ctx.library.people.name_person(
                person_id, name, check=True, expected_name=current
            )
        else:
            return _ask_to_rename(ctx, "named_meanwhile", person_id, label, name, current)
    return _after_naming(ctx, result, label, person_id, name)


def _ask_to_rename(
    ctx: Context, question: str, person_id: int, label: str, name: str, current: str
) -> Reply:
    """Ask (the wording's `question` under "people") before `current` becomes `name`; a yes
    renames only if the person is still called `current`."""
    text = ctx.wording.say("people", question, label=label, current=current, name=name)

    def rename() -> Reply:
        done = ctx.library.people.name_person(person_id, name, check=True, expected_name=current)
        return _after_naming(ctx, done, label, person_id, name, previous=current)

    return ask(ctx, text, rename)


def _after_naming(
    ctx: Context,
    result: Any,
    label: str,
    person_id: int,
    name: str,
    previous: str | None = None,
) -> Reply:
    memory = ctx.memory
    memory.seen_names[person_id] = result.name
    text = naming_text(ctx, result, label)

    def undo() -> None:
        if previous is None:
            ctx.library.people.unname(person_id)
        else:
            ctx.library.people.name_person(person_id, previous)

    change = ctx.wording.plain("changes", "named", label=label, name=result.name)
    return changed(ctx, text, [change], undo=undo, answers=_answers(ctx, name))


def _answers(ctx: Context, name: str) -> bool:
    """Whether naming someone `name` answers the open "who is …?" (a fuller name does)."""
    asked = ctx.memory.pending_name
    return asked is not None and _part_of(asked, name)


def _part_of(short: str, full: str) -> bool:
    """ "Hugo" of "Hugo Lindqvist", "Martin" of "Alice Martin" (whole words, any case)."""
    words = full.lower().split()
    part = short.lower().split()
    return any(words[k : k + len(part)] == part for k in range(len(words) - len(part) + 1))


def _name_of(ctx: Context, person_id: int) -> str | None:
    """The name a group of faces has now (None: unnamed or gone)."""
    return next((p.name for p in ctx.library.people.everyone() if p.id == person_id), None)


def _person_called(ctx: Context, name: str) -> int | None:
    """The id of the person with this name or alias, if there is one."""
    for p in ctx.library.people.everyone():
        if p.name and (p.name.lower() == name.lower() or name.lower() in map(str.lower, p.aliases)):
            return p.id
    return None


def name_photo(ctx: Context, args: dict) -> Reply:
    """ "photo 3 is Bob": name the one face of photo 3."""
    return _name_face_in(ctx, args["n"], args["name"], None)


def name_face(ctx: Context, args: dict) -> Reply:
    """ "the one on the left in photo 3 is Bob", "face 2 in photo 3 is Bob"."""
    return _name_face_in(ctx, args["n"], args["name"], args["face"])


def _name_face_in(ctx: Context, n: str, raw_name: str, position: str | None) -> Reply:
    path = hit(ctx, n).path
    name = clean_name(ctx, raw_name)
    face = None
    faces = ctx.library.people.photo_faces(path)
    if position is not None:
        face = face_number(ctx, position, len(faces))
        if face is None or not 1 <= face <= len(faces):
            key = "no_face_number" if face is not None else "face_position"
            text = ctx.wording.say(
                "errors",
                key,
                n=n,
                count=len(faces),
                face_word=plural(len(faces), "face", "faces"),
                face=face or 0,
                position=position,
                name=name,
            )
            return Reply(text, faces=face_pictures(ctx, faces), intent="usage")
    if face is None and len(faces) > 1:
        text = ctx.wording.say("errors", "which_face", n=n, count=len(faces), name=name)
        return Reply(text, faces=face_pictures(ctx, faces), intent="usage")
    label = ctx.wording.say("labels", "photo", n=n)

    before = faces[(face or 1) - 1] if faces else None

    def go() -> Reply:
        result = ctx.library.people.name_face(path, name, face=face)
        if face is None:
            text = naming_text(ctx, result, label)
        else:
            text = naming_text(ctx, result, "", key="named_face", face=face, n=n)
        change = ctx.wording.plain("changes", "named", label=label, name=result.name)
        group = before.person_id if before is not None else None
        undo = None  # a face that joined someone already named cannot be told apart again
        if group is not None and group == result.person_id and unnamed(before.label, group):
            undo = lambda: ctx.library.people.unname(group)  # noqa: E731
        return changed(ctx, text, [change], undo=undo, answers=_answers(ctx, name))

    gap = ctx.library.people.face_gap(path, name, face=face)
    if far_apart(ctx, gap):
        question = ctx.wording.say(
            "people", "naming_far", label=label, name=name, **gap_words(ctx, gap)
        )
        return ask(ctx, question, go)
    return go()


def face_number(ctx: Context, position: str, count: int) -> int | None:
    """1-based face number for "left", "second", "2", …; None when it cannot be told."""
    positions = ctx.wording.positions
    word = position.lower()
    if word.isdigit():
        return int(word)
    if word in positions["left"]:
        return 1
    if word in positions["right"]:
        return count
    if word in positions["middle"]:
        return (count + 1) // 2 if count % 2 == 1 else None
    if word in positions["ordinals"]:
        return positions["ordinals"].index(word) + 1
    return None


def not_person(ctx: Context, args: dict) -> Reply:
    """ "that's not Alice in photo 4": take that face off Alice, for good."""
    n = args.get("n") or args.get("n2") or args.get("n3")
    raw = args.get("name") or args.get("name2") or args.get("name3")
    path = hit(ctx, n).path
    name = known_as(ctx, clean_name(ctx, raw))
    faces = [f.index for f in ctx.library.people.photo_faces(path) if f.label == name]
    ctx.library.people.unassign(path, name)
    text = ctx.wording.say("people", "unassigned", n=n, name=name)

    def undo() -> None:
        for index in faces:
            ctx.library.people.name_face(path, name, face=index)

    change = ctx.wording.plain("changes", "unassigned", n=n, name=name)
    return changed(ctx, text, [change], undo=undo if faces else None)


# --- rename, merge, alias, forget ---


def rename(ctx: Context, args: dict) -> Reply:
    """ "rename Alice to Alicia" (or "rename person 2 to Carol")."""
    old, old_label = person_ref(ctx, args.get("old") or args.get("old2"))
    new = clean_name(ctx, args.get("new") or args.get("new2"))
    if isinstance(old, int):  # a group this session showed: same care as "person 2 is Carol"
        number = next(k for k, v in ctx.memory.person_numbers.items() if v == old)
        return name_person(ctx, {"person": str(number), "name": new})
    result = ctx.library.people.rename(old, new)
    text = ctx.wording.say("people", "renamed", old=old_label, new=result.name)
    change = ctx.wording.plain("changes", "renamed", old=old_label, new=new)
    return changed(ctx, text, [change], undo=lambda: ctx.library.people.rename(result.name, old))


def merge(ctx: Context, args: dict) -> Reply:
    """ "merge person 5 into Alice": asks first when their faces look like different people."""
    a, a_label = person_ref(ctx, args.get("a") or args.get("a2"))
    b, b_label = person_ref(ctx, args.get("b") or args.get("b2"))
    return _merge(ctx, a, a_label, b, b_label)


def _merge(ctx: Context, a: int | str, a_label: str, b: int | str, b_label: str) -> Reply:
    def go() -> Reply:
        result = ctx.library.people.merge(a, b)
        text = ctx.wording.say("people", "merged", a=a_label, b=b_label, **_count(result))
        change = ctx.wording.plain("changes", "merged", a=a_label, b=b_label)
        return changed(ctx, text, [change])

    try:
        gap = ctx.library.people.gap(a, b)
    except NotFound:
        if not isinstance(a, int) and not isinstance(b, int):
            raise
        gone = a_label if isinstance(a, int) else b_label
        return Reply(ctx.wording.say("people", "gone", label=gone), intent="usage")
    if far_apart(ctx, gap):
        question = ctx.wording.say(
            "people", "merge_far", a=a_label, b=b_label, **gap_words(ctx, gap)
        )
        return ask(ctx, question, go)
    return go()


def alias(ctx: Context, args: dict) -> Reply:
    """ "Bob is also called Robert"."""
    name = known_as(ctx, clean_name(ctx, args.get("name") or args.get("name2")))
    other = clean_name(ctx, args.get("alias") or args.get("alias2"))
    ctx.library.people.add_alias(name, other)
    text = ctx.wording.say("people", "alias", name=name, alias=other)
    change = ctx.wording.plain("changes", "alias", alias=other, name=name)
    return changed(ctx, text, [change], undo=lambda: ctx.library.people.remove_alias(name, other))


def undo(ctx: Context, _args: dict) -> Reply:
    """ "undo": reverse this session's last people change, and say what was undone."""
    say = ctx.wording.say
    if not ctx.memory.undo:
        return Reply(say("people", "nothing_to_undo"), intent="usage")
    what, action = ctx.memory.undo.pop()
    if action is None:
        return Reply(say("people", "cannot_undo", what=what), intent="usage")
    try:
        action()
    except NotFound:
        return Reply(say("people", "undo_gone", what=what), intent="usage")
    ctx.refresh()
    return Reply(
        say("people", "undone", what=what),
        changes=(ctx.wording.plain("changes", "undone", what=what),),
        people_changed=True,
        intent="people_changed",
    )


def forget(ctx: Context, args: dict) -> Reply:
    """ "forget Bob": the name goes, the faces become unnamed again."""
    ref, label = person_ref(ctx, args["name"])
    ctx.library.people.forget(ref)
    text = ctx.wording.say("people", "forgot", name=label)
    return changed(ctx, text, [ctx.wording.plain("changes", "forgot", name=label)])
