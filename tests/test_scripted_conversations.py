"""Scripted conversations on a real library, each answer's photos checked against the truth.

The library (tests/scripted_library.py): 24 public face photos of six people with EXIF
dates and GPS positions chosen by the test, indexed with MTCNN + dlib and the tiny random
CLIP model, every face named after its folder. A conversation is a list of messages, each
with what a right answer shows: exactly these photos (by file), these words, this intent.
Conversations that change people run on their own copy of the library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from scripted_library import build, copy_library

from assistant.conversation import Assistant
from assistant.replies import Reply
from assistant.terminal import plain_text

ANG, KIT, ROSE, ALEX = "Angelina Jolie", "Kit Harington", "Rose Leslie", "Alex Lacamoire"
COLIN, TONY = "Colin Powell", "Tony Blair"

Check = Callable[[Reply, object, list[Reply]], None]


@dataclass(frozen=True)
class Says:
    """A reply whose words contain each of `parts` (plain text, any case)."""

    parts: tuple[str, ...]

    def __call__(self, reply: Reply, truth, _history) -> None:
        text = plain_text(reply.text).lower()
        for part in self.parts:
            assert part.lower() in text, (part, reply.text)


def says(*parts: str) -> Says:
    return Says(parts)


def never_says(*parts: str) -> Check:
    def check(reply: Reply, _truth, _history) -> None:
        for part in parts:
            assert part.lower() not in plain_text(reply.text).lower(), (part, reply.text)

    return check


def shows(files: Callable, *also: Check) -> Check:
    """Exactly the photos `files(truth)` (a set of file names), plus other checks."""

    def check(reply: Reply, truth, history) -> None:
        got = [Path(p.path).name for p in reply.photos]
        assert len(got) == len(set(got)), got
        assert set(got) == files(truth), (reply.text, sorted(got), sorted(files(truth)))
        for more in also:
            more(reply, truth, history)

    return check


def first_photo(file: Callable, *also: Check) -> Check:
    """The first photo shown is `file(truth)`."""

    def check(reply: Reply, truth, history) -> None:
        assert reply.photos, reply.text
        assert Path(reply.photos[0].path).name == file(truth), reply.text
        for more in also:
            more(reply, truth, history)

    return check


def intent(name: str, *also: Check) -> Check:
    def check(reply: Reply, truth, history) -> None:
        assert reply.intent == name, (reply.intent, reply.text)
        for more in also:
            more(reply, truth, history)

    return check


def no_photos(*also: Check) -> Check:
    def check(reply: Reply, truth, history) -> None:
        assert not reply.photos, (reply.text, [p.path for p in reply.photos])
        for more in also:
            more(reply, truth, history)

    return check


def count_of(files: Callable) -> Check:
    """The reply states the number of photos `files(truth)` holds, in bold."""

    def check(reply: Reply, truth, history) -> None:
        assert f"**{len(files(truth))}**" in reply.text, reply.text

    return check


def ok(_reply, _truth, _history) -> None:
    """A step whose answer the next step checks."""


# --- the table: (id, messages with checks, changes people?) ---

CONVERSATIONS: list[tuple[str, list[tuple[str, Check]], bool]] = [
    # --- item 1: names as people say them
    ("full name", [("photos of Angelina Jolie", shows(lambda t: t.of(ANG)))], False),
    ("surname", [("photos of Jolie", shows(lambda t: t.of(ANG)))], False),
    ("first name", [("photos of Angelina", shows(lambda t: t.of(ANG)))], False),
    ("lower case surname", [("photos of harington", shows(lambda t: t.of(KIT)))], False),
    ("upper case", [("PHOTOS OF ROSE LESLIE", shows(lambda t: t.of(ROSE)))], False),
    ("possessive surname", [("Leslie's photos", shows(lambda t: t.of(ROSE)))], False),
    ("possessive first name", [("Colin's pictures", shows(lambda t: t.of(COLIN)))], False),
    ("typo in each part", [("photos of Angelnia Jolei", shows(lambda t: t.of(ANG)))], False),
    ("typo in surname", [("photos of Haringtn", shows(lambda t: t.of(KIT)))], False),
    ("two surnames", [("Harington and Leslie", shows(lambda t: t.of(KIT, ROSE)))], False),
    ("surname and first name", [("Kit and Leslie", shows(lambda t: t.of(KIT, ROSE)))], False),
    (
        "surname without another",
        [("Harington without Rose", shows(lambda t: t.without(t.of(KIT), ROSE)))],
        False,
    ),
    (
        "surname or surname",
        [("Blair or Powell", shows(lambda t: t.of(TONY) | t.of(COLIN)))],
        False,
    ),
    (
        "did you mean, then yes",
        [
            ("photos of Lesley", intent("did_you_mean", no_photos(says("did you mean", ROSE)))),
            ("yes", shows(lambda t: t.of(ROSE))),
        ],
        False,
    ),
    (
        "did you mean is not an offer to name a group",
        [("Lesly in Madrid", intent("did_you_mean", no_photos(says(ROSE))))],
        False,
    ),
    (
        "a shared surname asks which",
        [
            ("rename Tony Blair to Tony Powell", intent("people_changed")),
            ("photos of Powell", intent("ask_which", no_photos(says(COLIN, "Tony Powell")))),
            ("photos of Colin Powell", shows(lambda t: t.of(COLIN))),
        ],
        True,
    ),
    (
        "an alias",
        [
            ("Angelina is also called Angie", intent("people_changed")),
            ("photos of Angie", shows(lambda t: t.of(ANG))),
        ],
        True,
    ),
    (
        "a name nobody has asks who",
        [("photos of Zebedee", intent("ask_unknown", no_photos(says("Zebedee"))))],
        False,
    ),
    # --- searches with dates and places, then refinements
    (
        "person in a year",
        [("photos of Jolie in 2019", shows(lambda t: t.of(ANG, year=2019)))],
        False,
    ),
    ("person in a place", [("Jolie in Paris", shows(lambda t: t.of(ANG, place="Paris")))], False),
    ("a place", [("photos in Madrid", shows(lambda t: t.of(place="Madrid")))], False),
    ("a year", [("photos from 2017", shows(lambda t: t.of(year=2017)))], False),
    (
        "only a year after a search",
        [
            ("photos of Angelina", shows(lambda t: t.of(ANG))),
            ("only the ones from 2021", shows(lambda t: t.of(ANG, year=2021))),
        ],
        False,
    ),
    (
        "without after a search",
        [
            ("photos of Kit", shows(lambda t: t.of(KIT))),
            ("without Rose", shows(lambda t: t.without(t.of(KIT), ROSE))),
        ],
        False,
    ),
    (
        "n photos then more pages on",
        [
            ("3 photos of Angelina", lambda r, t, h: _page(r, t, 3)),
            ("more", lambda r, t, h: _next_page(r, t, h, 3)),
            ("more", lambda r, t, h: _next_page(r, t, h, 2)),
        ],
        False,
    ),
    # --- item 3: questions
    (
        "how many in the library",
        [("how many photos do I have?", count_of(lambda t: t.of()))],
        False,
    ),
    (
        "how many of a person",
        [
            ("how many photos of Bob?", ok),
            (
                "how many photos of Jolie do I have?",
                shows(lambda t: t.of(ANG), count_of(lambda t: t.of(ANG))),
            ),
        ],
        False,
    ),
    (
        "how many of a person in a year",
        [
            (
                "how many photos of Angelina from 2019?",
                shows(lambda t: t.of(ANG, year=2019), count_of(lambda t: t.of(ANG, year=2019))),
            )
        ],
        False,
    ),
    (
        "how many in a place",
        [
            (
                "how many photos are there in Denver?",
                shows(lambda t: t.of(place="Denver"), count_of(lambda t: t.of(place="Denver"))),
            )
        ],
        False,
    ),
    (
        "how many of two people",
        [
            (
                "how many photos of Kit and Rose?",
                shows(lambda t: t.of(KIT, ROSE), count_of(lambda t: t.of(KIT, ROSE))),
            )
        ],
        False,
    ),
    ("how many people", [("how many people do you know?", says("6 people"))], False),
    (
        "when last",
        [
            (
                "when did I last see Colin?",
                shows(lambda t: {max(t.of(COLIN), key=t.taken.get)}, says("10 January 2019")),
            )
        ],
        False,
    ),
    (
        "when first",
        [
            (
                "when was the first photo of Rose?",
                shows(lambda t: {min(t.of(ROSE), key=t.taken.get)}, says("19 May 2018")),
            )
        ],
        False,
    ),
    (
        "when last, only by the file's date",
        [
            (
                "when did I last see Angelina?",
                shows(lambda t: {"angelina_8.jpg"}, says("3 March 2022", "file's date")),
            )
        ],
        False,
    ),
    (
        "which years",
        [("which years do I have photos of Kit?", says("2018 (1)", "2019 (2)", "2020 (1)"))],
        False,
    ),
    (
        "which months",
        [("which months do I have photos of Alex?", says("March 2016 (1)", "April 2017 (1)"))],
        False,
    ),
    (
        "where with a person",
        [
            (
                "where have I been with Angelina?",
                shows(
                    lambda t: t.of(ANG),
                    says(
                        "Paris, Île-de-France, France (3)",
                        "Denver, Colorado, United States (2)",
                        "Madrid, Spain (1)",
                    ),
                ),
            )
        ],
        False,
    ),
    (
        "where was photo N",
        [
            ("photos of Colin", shows(lambda t: t.of(COLIN))),
            ("where was photo 1 taken?", lambda r, t, h: _place_of_photo(r, t, h, 1)),
        ],
        False,
    ),
    (
        "where was this taken",
        [
            ("1 photo of Rose in Paris", shows(lambda t: t.of(ROSE, place="Paris"))),
            ("where was this taken?", says("Paris")),
        ],
        False,
    ),
    (
        "who with most",
        [("who is Kit with most?", shows(lambda t: t.of(KIT), says("Rose Leslie (1)")))],
        False,
    ),
    (
        "who was with someone in a place",
        [
            (
                "who was with Rose in Madrid?",
                shows(lambda t: t.of(ROSE, place="Madrid"), says("Kit Harington (1)")),
            )
        ],
        False,
    ),
    (
        "who with nobody",
        [("who is Colin with most?", says("Nobody else"))],
        False,
    ),
    (
        "what is in photo N",
        [
            ("photos of Kit and Rose", shows(lambda t: t.of(KIT, ROSE))),
            ("what is in photo 1?", says(KIT, ROSE, "22 July 2019", "EXIF", "Madrid")),
        ],
        False,
    ),
    (
        "what is in a photo dated by its file",
        [
            ("photos of Angelina from 2022", shows(lambda t: {"angelina_8.jpg"})),
            ("what is in photo 1?", says(ANG, "3 March 2022", "unknown (no GPS")),
        ],
        False,
    ),
    (
        "a request it cannot do",
        [
            (
                "delete photo 3",
                intent("cannot", no_photos(says("can't do that", "how many photos of"))),
            )
        ],
        False,
    ),
    # --- more searches on the same library
    ("only one person", [("only Kit", shows(lambda t: t.of(KIT) - t.of(ROSE)))], False),
    (
        "a season",
        [
            (
                "photos from summer 2019",
                shows(lambda t: {f for f in t.of(year=2019) if 6 <= t.taken[f].month <= 8}),
            )
        ],
        False,
    ),
    (
        "a place and a year",
        [("photos in Paris from 2021", shows(lambda t: t.of(year=2021, place="Paris")))],
        False,
    ),
    ("photos of a place", [("photos of Denver", shows(lambda t: t.of(place="Denver")))], False),
    (
        "two people in a place",
        [("Kit and Rose in Madrid", shows(lambda t: t.of(KIT, ROSE, place="Madrid")))],
        False,
    ),
    (
        "a refinement that leaves nothing",
        [
            ("photos of Rose and Kit", shows(lambda t: t.of(KIT, ROSE))),
            ("only the ones from 2018", shows(lambda t: t.of(KIT, ROSE, year=2018))),
        ],
        False,
    ),
    ("surname of a short list", [("photos of Lacamoire", shows(lambda t: t.of(ALEX)))], False),
    ("surname in a year", [("Powell from 2018", shows(lambda t: t.of(COLIN, year=2018)))], False),
    # --- more questions
    (
        "how many of a person in a place",
        [
            (
                "how many photos of Colin in Denver?",
                shows(
                    lambda t: t.of(COLIN, place="Denver"),
                    count_of(lambda t: t.of(COLIN, place="Denver")),
                ),
            )
        ],
        False,
    ),
    (
        "how many in a year",
        [
            (
                "how many photos from 2019?",
                shows(lambda t: t.of(year=2019), count_of(lambda t: t.of(year=2019))),
            )
        ],
        False,
    ),
    (
        "when last in a place",
        [
            (
                "when was the last photo in Madrid?",
                shows(lambda t: {max(t.of(place="Madrid"), key=t.taken.get)}, says("5 May 2020")),
            )
        ],
        False,
    ),
    (
        "which years in the library",
        [
            (
                "which years?",
                says("2016 (1)", "2019 (7)", "2022 (1, 1 of them dated only by the file)"),
            )
        ],
        False,
    ),
    (
        "where was a person in a year",
        [("where was Tony in 2017?", shows(lambda t: t.of(TONY, year=2017), says("Paris")))],
        False,
    ),
    (
        "who was with a person in a year",
        [
            (
                "who was with Kit in 2019?",
                shows(lambda t: t.of(KIT, year=2019), says("Rose Leslie (1)")),
            )
        ],
        False,
    ),
    (
        "where have I been",
        [("where have I been?", says("Denver, Colorado, United States (7)"))],
        False,
    ),
    # --- item 4: typos in commands
    ("who do you knwo", [("who do you knwo?", intent("who_know", says(ANG, KIT, ROSE)))], False),
    ("phtos of", [("phtos of Jolie", shows(lambda t: t.of(ANG)))], False),
    ("fotos of", [("fotos of Kit", shows(lambda t: t.of(KIT)))], False),
    (
        "how mnay",
        [("how mnay photos of Rose?", shows(lambda t: t.of(ROSE), count_of(lambda t: t.of(ROSE))))],
        False,
    ),
    (
        "renmae",
        [
            ("renmae Tony Blair to Anthony Blair", intent("people_changed", says("Anthony Blair"))),
            ("photos of Anthony", shows(lambda t: t.of(TONY))),
        ],
        True,
    ),
    # --- item 5: German, French, Spanish
    ("german with", [("Fotos von Kit mit Rose", shows(lambda t: t.of(KIT, ROSE)))], False),
    (
        "german without",
        [("Fotos von Kit ohne Rose", shows(lambda t: t.without(t.of(KIT), ROSE)))],
        False,
    ),
    (
        "german month",
        [
            (
                "Fotos von Angelina im Juli 2019",
                shows(lambda t: {f for f in t.of(ANG, year=2019) if t.taken[f].month == 7}),
            )
        ],
        False,
    ),
    ("german only", [("nur Kit", shows(lambda t: t.of(KIT) - t.of(ROSE)))], False),
    (
        "german more",
        [
            ("3 Fotos von Angelina", lambda r, t, h: _page(r, t, 3)),
            ("mehr", lambda r, t, h: _next_page(r, t, h, 3)),
        ],
        False,
    ),
    (
        "french place",
        [("photos d'Angelina à Paris", shows(lambda t: t.of(ANG, place="Paris")))],
        False,
    ),
    ("french year", [("photos de Kit en 2019", shows(lambda t: t.of(KIT, year=2019)))], False),
    (
        "french without",
        [("photos de Kit sans Rose", shows(lambda t: t.without(t.of(KIT), ROSE)))],
        False,
    ),
    (
        "spanish without",
        [("fotos de Kit sin Rose", shows(lambda t: t.without(t.of(KIT), ROSE)))],
        False,
    ),
    ("spanish with", [("fotos de Kit con Rose", shows(lambda t: t.of(KIT, ROSE)))], False),
    (
        "spanish place and year",
        [
            (
                "fotos de Colin en Denver en 2018",
                shows(lambda t: t.of(COLIN, year=2018, place="Denver")),
            )
        ],
        False,
    ),
    (
        "another language is not a name",
        [("Fotos von Carla", intent("ask_unknown", no_photos(says("Carla"), never_says("fotos"))))],
        False,
    ),
    # --- item 2: a dialogue that keeps track
    (
        "a command while a question is open",
        [
            ("photos of Zebedee and Kit", intent("ask_unknown")),
            ("Kit is also called Kitty", intent("people_changed", never_says("Zebedee"))),
            ("photos of Kitty", shows(lambda t: t.of(KIT))),
        ],
        True,
    ),
    (
        "undo a rename",
        [
            ("rename Kit Harington to Christopher Harington", intent("people_changed")),
            ("undo", intent("people_changed", says("Undone", "Christopher Harington"))),
            ("photos of Kit Harington", shows(lambda t: t.of(KIT))),
        ],
        True,
    ),
    (
        "undo a not this person",
        [
            ("photos of Colin", shows(lambda t: t.of(COLIN))),
            ("that's not Colin in photo 1", intent("people_changed")),
            ("photos of Colin", lambda r, t, h: _one_fewer(r, t, COLIN)),
            ("undo", intent("people_changed")),
            ("photos of Colin", shows(lambda t: t.of(COLIN))),
        ],
        True,
    ),
    (
        "a refinement after yes to did you mean",
        [
            ("photos of Lesley", intent("did_you_mean")),
            ("yes", shows(lambda t: t.of(ROSE))),
            ("only the ones from 2021", shows(lambda t: t.of(ROSE, year=2021))),
        ],
        False,
    ),
    (
        "more after a question pages its evidence",
        [
            ("how many photos of Angelina?", shows(lambda t: t.of(ANG))),
            ("more", intent("more", no_photos(says("all I found")))),
        ],
        False,
    ),
]


def _page(reply: Reply, truth, size: int) -> None:
    got = [Path(p.path).name for p in reply.photos]
    assert len(got) == size and set(got) <= truth.of(ANG), got


def _next_page(reply: Reply, truth, history: list[Reply], size: int) -> None:
    got = [Path(p.path).name for p in reply.photos]
    before = [Path(p.path).name for r in history[:-1] for p in r.photos]
    assert len(got) == size and set(got) <= truth.of(ANG) and not set(got) & set(before), got
    numbers = [p.number for p in reply.photos]
    assert numbers == list(range(len(before) + 1, len(before) + size + 1))


def _one_fewer(reply: Reply, truth, name: str) -> None:
    got = {Path(p.path).name for p in reply.photos}
    assert got < truth.of(name) and len(got) == len(truth.of(name)) - 1, (reply.text, got)


def _place_of_photo(reply: Reply, truth, history: list[Reply], n: int) -> None:
    shown = Path(history[-2].photos[n - 1].path).name
    assert truth.place[shown] in reply.text, reply.text


@pytest.fixture(scope="module")
def scripted(tmp_path_factory, eval_faces, tiny_clip_spec):
    root = tmp_path_factory.mktemp("scripted")
    lib, truth = build(eval_faces, root, tiny_clip_spec)
    yield lib, truth, root
    lib.close()


@pytest.mark.parametrize("steps, changes", [pytest.param(s, c, id=i) for i, s, c in CONVERSATIONS])
def test_conversation(scripted, tmp_path, tiny_clip_spec, steps, changes):
    lib, truth, root = scripted
    if changes:  # people change: on a copy, so the other conversations see the truth
        lib.catalog.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        lib = copy_library(root / "data", tmp_path / "data", tiny_clip_spec)
    try:
        chat = Assistant(lib).new_session()
        history: list[Reply] = []
        for message, check in steps:
            reply = chat.respond(message)
            history.append(reply)
            check(reply, truth, history)
    finally:
        if changes:
            lib.close()


def test_the_table_covers_at_least_sixty_conversations():
    assert len(CONVERSATIONS) >= 60


def test_every_conversation_checks_its_answers_against_the_truth():
    """No conversation only checks that a reply came: each checks what it shows or says."""
    for name, steps, _ in CONVERSATIONS:
        assert any(check is not ok for _, check in steps), name
    names = [name for name, _, _ in CONVERSATIONS]
    assert len(names) == len(set(names))
