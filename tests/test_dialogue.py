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


def test_help_uses_only_the_librarys_real_names_unchanged(chat):
    text = chat.respond("help").text
    assert "Alice" in text and "Bob" in text
    for invented in ("Alicea", "Alic ", "Ali ", "Carol", "Alicie"):
        assert invented not in text, invented


def test_help_with_one_named_person_invents_no_second(lib):
    lib.people_by_id[2].name = None
    text = Assistant(lib, now=NOW).new_session().respond("help").text
    assert "Bob" not in text and "Carol" not in text


# --- at most one open question; a command closes it and is answered as itself ---


@pytest.mark.parametrize(
    "command, answer, call",
    [
        ("rename Bob to Bobby", "Renamed", ("rename", "Bob", "Bobby")),
        ("Alice is also called Ali", "another name", ("alias", "Alice", "Ali")),
        ("forget Bob", "Forgot", ("forget", "Bob")),
    ],
)
def test_a_command_while_a_question_is_open_is_answered_as_itself(chat, lib, command, answer, call):
    asked = chat.respond("photos of Kim and Bob")
    assert asked.intent == "ask_unknown"
    reply = chat.respond(command)
    assert answer in reply.text and "Kim" not in reply.text, reply.text
    assert call in lib.calls
    again = chat.respond("who do you know?")  # the question about Kim is closed
    assert "Kim" not in again.text


def test_a_fuller_name_answers_the_question_and_reruns_the_waiting_search(chat, lib):
    assert chat.respond("photos of Kim").intent == "ask_unknown"
    reply = chat.respond("person 1 is Kim Lindqvist")  # person 1: the group of photos 3, 4
    assert reply.intent == "named_and_searched", reply.text
    assert photo_ids(reply) == [3, 4]
    refined = chat.respond("without Bob")  # applies to the search on screen, not an older one
    assert refined.query.people_all == ("Kim Lindqvist",) and photo_ids(refined) == [3]


def test_naming_a_group_this_session_named_asks_before_renaming(chat, lib):
    chat.respond("who do you know?")
    chat.respond("person 1 is Carl")
    asked = chat.respond("person 1 is Dora")
    assert asked.intent == "confirm_asked" and "Carl" in asked.text and "Dora" in asked.text
    assert lib.people_by_id[3].name == "Carl"
    chat.respond("no")
    assert lib.people_by_id[3].name == "Carl"
    chat.respond("person 1 is Dora")
    chat.respond("yes")
    assert lib.people_by_id[3].name == "Dora"


def test_a_part_of_the_groups_name_is_no_rename(chat, lib):
    chat.respond("who do you know?")
    chat.respond("person 1 is Alice Martin")
    reply = chat.respond("person 1 is Martin")
    assert "already" in reply.text and lib.people_by_id[3].name == "Alice Martin"


def test_undo_reverses_the_last_people_change_and_says_what(chat, lib):
    assert "nothing" in chat.respond("undo").text
    chat.respond("who do you know?")
    chat.respond("person 1 is Carl")
    chat.respond("rename Bob to Robert")
    first = chat.respond("undo")
    assert "Bob" in first.text and "Robert" in first.text and first.people_changed
    assert lib.people_by_id[2].name == "Bob"
    second = chat.respond("undo")
    assert "Carl" in second.text and lib.people_by_id[3].name is None
    chat.respond("Alice is also called Ali")
    chat.respond("undo")
    assert lib.people_by_id[1].aliases == []
    chat.respond("merge Bob into Alice")
    assert "can't undo" in chat.respond("undo").text


def test_undo_takes_back_a_not_this_person(chat, lib):
    chat.respond("photos of Alice")
    chat.respond("that's not Alice in photo 1")
    assert 1 not in lib.photos[0]["people"]
    chat.respond("undo")
    assert ("name_face", 1, "Alice", 1) in lib.calls


def test_without_the_image_model_a_search_says_what_it_did_use(tmp_path):
    chat = Assistant(FakeLibrary(tmp_path, clip=False), now=NOW).new_session()
    reply = chat.respond('Alice at the beach in 2019 with a sign that says "rodeo clown"')
    assert "I searched by the people, the dates and the words written in the photos only" in (
        reply.text
    ), reply.text
    assert "places" not in reply.text


def test_a_request_it_cannot_do_is_not_blamed_on_the_image_model(chat):
    for message in ("show me my albums", "delete photo 3"):
        reply = chat.respond(message)
        assert reply.intent == "cannot" and "image model" not in reply.text, reply.text


@pytest.mark.parametrize("message", ["delete Bob", "remove Bob"])
def test_delete_a_name_is_still_forget_not_a_request_it_cannot_do(chat, lib, message):
    reply = chat.respond(message)
    assert reply.intent == "people_changed" and ("forget", "Bob") in lib.calls, reply.text
