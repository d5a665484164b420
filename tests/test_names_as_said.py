"""Names as people say them: full name, any unique part, alias, possessive, any case, typos.

Each case was a defect a new user met ("photos of Martin" after naming Alice Martin answered
"I don't know Martin yet"); the parser now reads them as the person, asks which one when a
part is shared, and never takes a word of another language for a name.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from assistant.query import QueryParser
from assistant.query.names import close_names

NOW = datetime(2026, 11, 27, 15, 0)
PEOPLE = {
    "Alice Martin": [],
    "Bob Stone": ["Bobby"],
    "Carol Jones": ["Caz"],
    "Hugo Lindqvist": [],
    "Dave Jones": [],
    "Alexandra Mayer-Okafor": [],
    "Eve": [],
}


@pytest.fixture(scope="module")
def parser() -> QueryParser:
    return QueryParser(PEOPLE, ["Paris"], now=NOW)


@pytest.mark.parametrize(
    "message, people",
    [
        ("photos of Alice Martin", ["Alice Martin"]),
        ("photos of Martin", ["Alice Martin"]),  # the surname alone
        ("photos of martin", ["Alice Martin"]),  # any case
        ("MARTIN AND BOB", ["Alice Martin", "Bob Stone"]),
        ("Martin's photos", ["Alice Martin"]),  # the possessive
        ("Martin and Bob", ["Alice Martin", "Bob Stone"]),
        ("photos of Alice", ["Alice Martin"]),  # the first name alone
        ("photos of Lindqvist", ["Hugo Lindqvist"]),
        ("photos of Caz", ["Carol Jones"]),  # an alias
        ("photos of Alcie Martn", ["Alice Martin"]),  # a typo in each part
        ("photos of Alcie", ["Alice Martin"]),
        ("photos of Lindqvst", ["Hugo Lindqvist"]),
        ("photos of Mayer-Okafor", ["Alexandra Mayer-Okafor"]),
        ("photos of Alexandra", ["Alexandra Mayer-Okafor"]),
    ],
)
def test_a_named_person_is_found_by_any_unique_part_of_the_name(parser, message, people):
    q = parser.parse(message)
    assert list(q.people_all) == people, q
    assert not q.unknown_names and not q.ambiguous, q


def test_a_part_two_people_share_is_ambiguous_and_lists_both(parser):
    q = parser.parse("photos of Jones at the beach")
    assert not q.people_all and not q.unknown_names
    assert q.ambiguous == (("Jones", ("Carol Jones", "Dave Jones")),)
    assert q.text == "at the beach"


def test_a_full_name_wins_over_a_shared_part(parser):
    q = parser.parse("photos of Dave Jones")
    assert q.people_all == ("Dave Jones",) and not q.ambiguous


def test_a_short_name_tolerates_no_typo(parser):
    q = parser.parse("photos of Eva")  # three letters: "Eva" is someone else, not Eve
    assert q.people_all == ()


@pytest.mark.parametrize(
    "word, expected",
    [
        ("Martn", ["Alice Martin"]),
        ("Alcie", ["Alice Martin"]),
        ("Hugh", ["Hugo Lindqvist"]),
        ("Jonse", ["Carol Jones", "Dave Jones"]),
        ("Zebedee", []),
    ],
)
def test_an_unknown_word_close_to_a_known_name_is_offered_as_did_you_mean(word, expected):
    assert close_names(word, PEOPLE) == expected


# --- typos in commands (the speller runs before a message is matched) ---


@pytest.fixture(scope="module")
def speller():
    from assistant.query.lexicon import engine
    from assistant.query.spelling import speller as make
    from assistant.replies import Wording

    return make(Wording().intents["spelling"], engine())


@pytest.mark.parametrize(
    "typed, meant",
    [
        ("who do you knwo", "who do you know"),
        ("fotos of Bob", "photos of Bob"),
        ("phtos of Bob", "photos of Bob"),
        ("Phtos of Bob", "photos of Bob"),
        ("renmae Bob to Rob", "rename Bob to Rob"),
        ("how mnay photos of Bob", "how many photos of Bob"),
        ("shwo me more", "show me more"),
        ("forgte Bob", "forget Bob"),
        ("photos of Moore", "photos of Moore"),  # a capitalised word may be a name
        ("photos of hugo", "photos of hugo"),  # a known name is never "put right"
        ('a sign that says "phtos"', 'a sign that says "phtos"'),  # quoted words are kept
        ("trees by the lake", "trees by the lake"),  # ordinary words are kept
    ],
)
def test_misspelt_command_words_are_put_right_and_nothing_else(speller, typed, meant):
    assert speller.fix(typed, names={"hugo", "lindqvist"}) == meant
