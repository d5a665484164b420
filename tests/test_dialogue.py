"""The dialogue keeps track: names as said, questions asked one at a time, commands that win.

Against the small library double of test_conversation.py (Alice, Bob, two unnamed groups);
each test here reproduced a defect a new user met before it was fixed.
"""

from __future__ import annotations

import pytest
from test_conversation import NOW, FakeLibrary, changed, photo_ids

from assistant.conversation import Assistant


@pytest.fixture
def lib(tmp_path):
    return FakeLibrary(tmp_path)


@pytest.fixture
def chat(lib):
    return Assistant(lib, now=NOW).new_session()


def test_a_surname_finds_the_person_after_a_full_naming(chat, lib):
    chat.respond("who do you know?")
    chat.respond("person 1 is Alice Martin")  # the first unnamed group: photos 3 and 4
    for message in ("photos of Martin", "Martin's photos", "photos of martin"):
        reply = chat.respond(message)
        assert reply.intent == "search", (message, reply.text)
        assert reply.query.people_all == ("Alice Martin",)
        assert photo_ids(reply) == [3, 4]
    both = chat.respond("Martin and Bob")
    assert both.query.people_all == ("Alice Martin", "Bob") and photo_ids(both) == [4]


def test_a_misspelt_full_name_is_found(chat, lib):
    lib.people_by_id[3].name = "Alice Martin"
    lib.people_by_id[1].name = "Zoe"
    chat.assistant.refresh()
    reply = chat.respond("photos of Alcie Martn")
    assert reply.query.people_all == ("Alice Martin",) and photo_ids(reply) == [3, 4]


def test_a_shared_surname_asks_which_and_searches_nothing(chat, lib):
    lib.people_by_id[1].name = "Carol Jones"
    lib.people_by_id[2].name = "Dave Jones"
    chat.assistant.refresh()
    reply = chat.respond("photos of Jones")
    assert reply.intent == "ask_which" and not reply.photos
    assert "Carol Jones" in reply.text and "Dave Jones" in reply.text
    assert "person 1 is" not in reply.text


def test_a_word_close_to_a_known_name_asks_did_you_mean_and_yes_searches(chat, lib):
    reply = chat.respond("photos of Bobb")
    assert reply.intent == "did_you_mean", reply.text
    assert "Bob" in reply.text and "person" not in reply.text  # no offer to name a group
    assert not reply.faces
    yes = chat.respond("yes")
    assert yes.intent == "search" and yes.query.people_all == ("Bob",)
    assert photo_ids(yes) == [1, 4]
    assert not changed(lib)


def test_a_word_far_from_every_name_is_offered_only_unnamed_groups(chat, lib):
    reply = chat.respond("photos of Zebedee")
    assert reply.intent == "ask_unknown"
    offered = {f.person_id for f in reply.faces}
    assert offered == {3, 4}  # never Alice's or Bob's group
    numbers = {f.number for f in reply.faces}
    suggested = int(reply.text.split("person ")[1].split()[0])
    assert suggested in numbers
