"""The plain-English query parser: people, dates, places, limits and the text left for CLIP."""

from __future__ import annotations

from datetime import datetime

import pytest

import assistant.query.lexicon as query_lexicon
from assistant.query import DISTANT_FUTURE, DISTANT_PAST, QueryParser, parse_query
from index.types import Query

NOW = datetime(2026, 11, 27, 15, 0)  # a Friday
PEOPLE = {
    "Alice": [],
    "Robert": ["Bob", "Bobby"],
    "Rose": [],
    "Summer": [],
    "Bill": ["William"],
    "May": [],
    "Grace": [],
    "Florence": [],
    "Alexandra Smith": ["Alex"],
}
PLACES = ["Paris", "France", "Lake Tahoe", "Nice", "Florence", "New York"]


@pytest.fixture(scope="module")
def parser() -> QueryParser:
    """One parser for the module: spaCy loads once per process, on the first parse."""
    return QueryParser(PEOPLE, PLACES, now=NOW)


def d(start: str, end: str) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(start), datetime.fromisoformat(end)


FUTURE = DISTANT_FUTURE.isoformat()
PAST = DISTANT_PAST.isoformat()

# (query, expected fields); every field not named must be empty / None / False.
CASES: list[tuple[str, dict]] = [
    # --- people: all / any / none / only
    ("photos of Alice", {"people_all": ["Alice"]}),
    ("Alice and Bob", {"people_all": ["Alice", "Robert"]}),
    ("Alice with Bob", {"people_all": ["Alice", "Robert"]}),
    ("alice and bob", {"people_all": ["Alice", "Robert"]}),
    ("ALICE AND BOB", {"people_all": ["Alice", "Robert"]}),
    ("Alice & Bob!", {"people_all": ["Alice", "Robert"]}),
    ("photos of Alice?", {"people_all": ["Alice"]}),
    ("Alice or Bob", {"people_any": ["Alice", "Robert"]}),
    ("either Alice or Bobby", {"people_any": ["Alice", "Robert"]}),
    ("Alice and Bob or Rose", {"people_all": ["Alice"], "people_any": ["Robert", "Rose"]}),
    ("Alice without Bob", {"people_all": ["Alice"], "people_none": ["Robert"]}),
    ("Alice but not Bob", {"people_all": ["Alice"], "people_none": ["Robert"]}),
    ("Alice, not Bob", {"people_all": ["Alice"], "people_none": ["Robert"]}),
    ("beach photos without Bob", {"text": "beach", "people_none": ["Robert"]}),
    ("no Bob", {"people_none": ["Robert"]}),
    ("everything except Bob", {"text": "everything", "people_none": ["Robert"]}),
    ("without Bob or Rose", {"people_none": ["Robert", "Rose"]}),
    ("neither Alice nor Bob", {"people_none": ["Alice", "Robert"]}),
    (
        "Alice without Bob at the beach with Rose",
        {"text": "at the beach", "people_all": ["Alice", "Rose"], "people_none": ["Robert"]},
    ),
    ("only Alice", {"people_all": ["Alice"], "only": True}),
    ("Alice alone at the beach", {"text": "at the beach", "people_all": ["Alice"], "only": True}),
    ("just Alice and Bob", {"people_all": ["Alice", "Robert"], "only": True}),
    ("Alice by herself", {"people_all": ["Alice"], "only": True}),
    ("Alice and Bob only", {"people_all": ["Alice", "Robert"], "only": True}),
    ("Alice with nobody else", {"people_all": ["Alice"], "only": True}),
    ("a man alone on a bench", {"text": "a man alone on a bench"}),
    ("Alice without Alice", {"people_all": ["Alice"], "people_none": ["Alice"]}),
    # --- aliases, possessives, typos
    ("Alice's birthday", {"text": "birthday", "people_all": ["Alice"]}),
    ("alice's birthday party", {"text": "birthday party", "people_all": ["Alice"]}),
    ("alices birthday", {"text": "birthday", "people_all": ["Alice"]}),
    ("Could you show me Bob's graduation?", {"text": "graduation", "people_all": ["Robert"]}),
    ("photos of Bobby", {"people_all": ["Robert"]}),
    ("William at the lake", {"text": "at the lake", "people_all": ["Bill"]}),
    ("photos of Alcie at the beach", {"text": "at the beach", "people_all": ["Alice"]}),
    ("robret hiking", {"text": "hiking", "people_all": ["Robert"]}),
    ("Alexandr Smith", {"people_all": ["Alexandra Smith"]}),
    ("photos of Alex", {"people_all": ["Alexandra Smith"]}),
    ("pictures of alexandra", {"people_all": ["Alexandra Smith"]}),
    ("Alice's and Bob's wedding", {"text": "wedding", "people_all": ["Alice", "Robert"]}),
    # --- names that are also words
    ("a rose in the garden", {"text": "a rose in the garden"}),
    ("red roses", {"text": "red roses"}),
    ("rose garden", {"text": "rose garden"}),
    ("photos of rose", {"people_all": ["Rose"]}),
    ("Rose in the garden", {"text": "in the garden", "people_all": ["Rose"]}),
    ("summer 2019", {"dates": d("2019-06-01", "2019-09-01")}),
    ("photos of Summer", {"people_all": ["Summer"]}),
    (
        "Summer at the beach last summer",
        {"text": "at the beach", "people_all": ["Summer"], "dates": d("2026-06-01", "2026-09-01")},
    ),
    ("pay the bill", {"text": "pay the bill"}),
    ("photos with bill", {"people_all": ["Bill"]}),
    ("in May", {"dates": d("2026-05-01", "2026-06-01")}),
    ("photos of May", {"people_all": ["May"]}),
    ("May at the beach", {"text": "at the beach", "people_all": ["May"]}),
    ("May I see photos of Alice", {"people_all": ["Alice"]}),
    ("alice with bob or may", {"people_all": ["Alice"], "people_any": ["Robert", "May"]}),
    ("Grace and Alice", {"people_all": ["Grace", "Alice"]}),
    ("saying grace before dinner", {"text": "saying grace before dinner"}),
    ("with Florence", {"people_all": ["Florence"]}),
    ("sunset in Florence", {"text": "sunset", "places": ["Florence"]}),
    # --- names nobody has been given
    ("Find Carol at the park", {"text": "at the park", "unknown_names": ["Carol"]}),
    (
        "Alice, Bob, and Carol at the zoo",
        {"text": "at the zoo", "people_all": ["Alice", "Robert"], "unknown_names": ["Carol"]},
    ),
    (
        "photos of Jennifer Smith in Paris",
        {"unknown_names": ["Jennifer Smith"], "places": ["Paris"]},
    ),
    ("Show pictures of Xiu and Alice", {"people_all": ["Alice"], "unknown_names": ["Xiu"]}),
    ("Carol's wedding", {"text": "wedding", "unknown_names": ["Carol"]}),
    ("show me Kit and Rose", {"people_all": ["Rose"], "unknown_names": ["Kit"]}),
    (
        "Christmas in Paris",
        {"dates": d("2025-12-24", "2025-12-27"), "places": ["Paris"]},
    ),
    ("Show me the beach", {"text": "the beach"}),
    ("Paris", {"places": ["Paris"]}),
    ("can you find pictures of my kids with Santa", {"text": "kids with Santa"}),
    # --- dates
    ("2019", {"dates": d("2019-01-01", "2020-01-01")}),
    ("in 2019", {"dates": d("2019-01-01", "2020-01-01")}),
    ("photos from 2019", {"dates": d("2019-01-01", "2020-01-01")}),
    ("in June", {"dates": d("2026-06-01", "2026-07-01")}),
    ("in December", {"dates": d("2025-12-01", "2026-01-01")}),
    ("in November", {"dates": d("2026-11-01", "2026-12-01")}),
    ("June 2019", {"dates": d("2019-06-01", "2019-07-01")}),
    ("summer 2018", {"dates": d("2018-06-01", "2018-09-01")}),
    ("winter 2018", {"dates": d("2018-12-01", "2019-03-01")}),
    ("snow in winter", {"text": "snow", "dates": d("2025-12-01", "2026-03-01")}),
    ("last summer", {"dates": d("2026-06-01", "2026-09-01")}),
    ("last year", {"dates": d("2025-01-01", "2026-01-01")}),
    ("this year", {"dates": d("2026-01-01", "2027-01-01")}),
    ("this month", {"dates": d("2026-11-01", "2026-12-01")}),
    ("last month", {"dates": d("2026-10-01", "2026-11-01")}),
    ("yesterday", {"dates": d("2026-11-26", "2026-11-27")}),
    ("last week", {"dates": d("2026-11-16", "2026-11-23")}),
    ("last weekend", {"dates": d("2026-11-21", "2026-11-23")}),
    ("in the 90s", {"dates": d("1990-01-01", "2000-01-01")}),
    ("the 1990s", {"dates": d("1990-01-01", "2000-01-01")}),
    ("'90s", {"dates": d("1990-01-01", "2000-01-01")}),
    ("between 2018 and 2020", {"dates": d("2018-01-01", "2021-01-01")}),
    ("from 2018 to 2020", {"dates": d("2018-01-01", "2021-01-01")}),
    ("2018-2020", {"dates": d("2018-01-01", "2021-01-01")}),
    ("before 2015", {"dates": d(PAST, "2015-01-01")}),
    ("after March 2021", {"dates": d("2021-04-01", FUTURE)}),
    ("since 2020", {"dates": d("2020-01-01", FUTURE)}),
    ("Christmas 2019", {"dates": d("2019-12-24", "2019-12-27")}),
    ("June 15, 2019", {"dates": d("2019-06-15", "2019-06-16")}),
    ("3 years ago", {"dates": d("2023-01-01", "2024-01-01")}),
    ("last 3 months", {"dates": d("2026-08-27", "2026-11-28")}),
    ("in 2019 or 2020", {"dates": d("2019-01-01", "2021-01-01")}),
    (
        "sunsets between June and August 2019",
        {"text": "sunsets", "dates": d("2019-06-01", "2019-09-01")},
    ),
    ("in the fall", {"dates": d("2026-09-01", "2026-12-01")}),
    ("summer vacation", {"text": "vacation", "dates": d("2026-06-01", "2026-09-01")}),
    ("Alice in her 20s", {"text": "in her 20s", "people_all": ["Alice"]}),
    ("easter 2021", {"dates": d("2021-04-03", "2021-04-06")}),
    (
        "photos of the kids on new year's eve 2019",
        {"text": "the kids", "dates": d("2019-12-31", "2020-01-01")},
    ),
    ("Dad's 60th birthday", {"text": "60th birthday", "unknown_names": ["Dad"]}),
    ("show me the top", {"text": "the top"}),
    ("the fall of the berlin wall", {"text": "the fall of the berlin wall"}),
    ("hot spring", {"text": "hot spring"}),
    # --- places
    ("at the beach in Hawaii", {"text": "at the beach in Hawaii"}),
    ("photos in Lake Tahoe", {"places": ["Lake Tahoe"]}),
    ("lake tahoe in winter", {"places": ["Lake Tahoe"], "dates": d("2025-12-01", "2026-03-01")}),
    ("photos in nice", {"places": ["Nice"]}),
    ("nice sunset", {"text": "nice sunset"}),
    ("New York at night", {"text": "at night", "places": ["New York"]}),
    (
        "Alice and Bob in Paris or France",
        {"people_all": ["Alice", "Robert"], "places": ["Paris", "France"]},
    ),
    (
        "bobby and alice hiking near a lake, summer 2018",
        {
            "text": "hiking near a lake",
            "people_all": ["Robert", "Alice"],
            "dates": d("2018-06-01", "2018-09-01"),
        },
    ),
    # --- limit
    ("5 photos of Alice", {"people_all": ["Alice"], "limit": 5}),
    ("five pictures of the dog", {"text": "the dog", "limit": 5}),
    ("a photo of Alice", {"people_all": ["Alice"], "limit": 1}),
    ("one picture of the sea", {"text": "the sea", "limit": 1}),
    ("top 10 sunsets", {"text": "sunsets", "limit": 10}),
    ("a picture frame", {"text": "a picture frame"}),
    ("last 5 days", {"dates": d("2026-11-22", "2026-11-28")}),
    # --- no people at all; filler
    ("sunset over the ocean", {"text": "sunset over the ocean"}),
    ("dog", {"text": "dog"}),
    ("I want to see some photos of a birthday cake please", {"text": "a birthday cake"}),
    ("photos with a dog", {"text": "with a dog"}),
    (
        "photos of Alice at the beach with a dog last summer",
        {
            "text": "at the beach with a dog",
            "people_all": ["Alice"],
            "dates": d("2026-06-01", "2026-09-01"),
        },
    ),
    ("show me photos", {}),
    # --- bad input
    ("", {}),
    ("   ", {}),
    ("!!!", {}),
    ("🙂🙂🙂", {}),
    ("?", {}),
]

# The same, for a library where only Alice is enrolled: names that are also words ("Rose",
# "Kit") and names the model takes for places ("Angelina") must still be asked about.
FEW_PEOPLE = {"Alice": []}
FEW_PLACES = ["Paris", "France"]
FEW_CASES: list[tuple[str, dict]] = [
    # a capitalised word no dictionary knows, where a name stands (the model says GPE)
    ("photos of Angelina", {"unknown_names": ["Angelina"]}),
    ("Angelina at the beach", {"text": "at the beach", "unknown_names": ["Angelina"]}),
    ("find Angelina", {"unknown_names": ["Angelina"]}),
    ("photos of Angelina in Paris", {"unknown_names": ["Angelina"], "places": ["Paris"]}),
    ("photos of Tokyo", {"text": "Tokyo"}),  # a place the dictionary knows, not in the library
    ("Beach and Alice", {"text": "Beach", "people_all": ["Alice"]}),
    # dictionary words joined to a name by "and" / "or" / commas
    ("show me Kit and Rose", {"unknown_names": ["Kit", "Rose"]}),
    (
        "Alice and Rose at the lake",
        {"text": "at the lake", "people_all": ["Alice"], "unknown_names": ["Rose"]},
    ),
    (
        "Kit, Rose and Ann at the zoo",
        {"text": "at the zoo", "unknown_names": ["Kit", "Rose", "Ann"]},
    ),
    ("Alice or Jenny", {"people_any": ["Alice"], "unknown_names": ["Jenny"]}),
    ("a rose in the garden", {"text": "a rose in the garden"}),
    ("red roses", {"text": "red roses"}),
    ("kit and rose", {"text": "kit and rose"}),
    # lower case: a word no dictionary knows after "photos of", "with", "and"
    ("photos of angelina", {"unknown_names": ["Angelina"]}),
    ("photos of jessica and alice", {"people_all": ["Alice"], "unknown_names": ["Jessica"]}),
    ("photos with angelina at the beach", {"text": "at the beach", "unknown_names": ["Angelina"]}),
    ("photos of dogs", {"text": "dogs"}),
    ("photos of sunsets", {"text": "sunsets"}),
    ("pictures of paris", {"places": ["Paris"]}),
    ("a cup of matcha", {"text": "a cup of matcha"}),  # "of" after a word, not after "photos"
    ("photos of bbq", {"text": "bbq"}),  # an abbreviation, no name
    # the user: nobody is enrolled as "me" here, so the word just leaves the text
    ("photos of me", {}),
    ("me and Alice", {"people_all": ["Alice"]}),
    ("Alice and me at the beach", {"text": "at the beach", "people_all": ["Alice"]}),
    ("photos of myself in Paris", {"places": ["Paris"]}),
]

FIELDS = (
    "text",
    "people_all",
    "people_any",
    "people_none",
    "only",
    "unknown_names",
    "places",
    "limit",
)


def assert_parses(parser: QueryParser, text: str, expected: dict) -> None:
    """The parse of `text` has exactly the expected fields; every other one is empty."""
    q = parser.parse(text)
    assert q.raw == text
    got = {f: getattr(q, f) for f in FIELDS}
    want = {f: Query.__dataclass_fields__[f].default for f in FIELDS}
    want.update(
        {k: tuple(v) if isinstance(v, list) else v for k, v in expected.items() if k != "dates"}
    )
    assert got == want
    dates = expected.get("dates")
    assert (q.dates.start, q.dates.end) == dates if dates else q.dates is None


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:40] or "<empty>" for c in CASES])
def test_parse_table(parser: QueryParser, text: str, expected: dict) -> None:
    assert_parses(parser, text, expected)


@pytest.mark.parametrize(("text", "expected"), FEW_CASES, ids=[c[0][:40] for c in FEW_CASES])
def test_names_nobody_has_been_given(text: str, expected: dict) -> None:
    assert_parses(QueryParser(FEW_PEOPLE, FEW_PLACES, now=NOW), text, expected)


def test_someone_enrolled_as_me_is_found_by_me() -> None:
    parser = QueryParser({"Dana": ["me", "myself"], "Alice": []}, now=NOW)
    q = parser.parse("photos of me and Alice at the beach")
    assert q.people_all == ("Dana", "Alice") and q.text == "at the beach"
    assert parser.parse("me and Alice").people_all == ("Dana", "Alice")
    assert parser.parse("myself in 2019").people_all == ("Dana",)


def test_date_label_keeps_the_users_words(parser: QueryParser) -> None:
    assert parser.parse("photos of Alice in summer 2019").dates.label == "summer 2019"
    assert parser.parse("between 2018 and 2020").dates.label == "between 2018 and 2020"


def test_huge_query_is_cut_not_refused(parser: QueryParser) -> None:
    text = "Alice at the beach " + "very " * 2500
    q = parser.parse(text)
    assert q.raw == text
    assert q.people_all == ("Alice",)
    assert len(q.text) <= 500 and q.text.startswith("at the beach very")


def test_odd_characters_never_raise(parser: QueryParser) -> None:
    for text in [
        "\x00\x01",
        "'",
        "-",
        "'s",
        "2019-13-45",
        "February 31 2020",
        "between and",
        "from to",
        "Alice" * 400,
    ]:
        assert isinstance(parser.parse(text), Query)


def test_update_makes_an_unknown_name_known() -> None:
    parser = QueryParser({"Alice": []}, now=NOW)
    before = parser.parse("Find Carol at the park")
    assert before.unknown_names == ("Carol",) and before.people_all == ()
    parser.update(people={"Alice": [], "Caroline": ["Carol"]})
    after = parser.parse("Find Carol at the park")
    assert after.people_all == ("Caroline",) and after.unknown_names == ()
    assert after.text == "at the park"


def test_update_of_places_keeps_people() -> None:
    parser = QueryParser({"Alice": []}, now=NOW)
    assert parser.parse("Alice in Hawaii").text == "in Hawaii"
    parser.update(places=["Hawaii"])
    q = parser.parse("Alice in Hawaii")
    assert q.places == ("Hawaii",) and q.people_all == ("Alice",) and q.text == ""


def test_now_may_be_a_callable_read_at_each_parse() -> None:
    clock = [datetime(2020, 3, 1)]
    parser = QueryParser(now=lambda: clock[0])
    assert parser.parse("last year").dates.start == datetime(2019, 1, 1)
    clock[0] = datetime(2024, 3, 1)
    assert parser.parse("last year").dates.start == datetime(2023, 1, 1)


def test_parse_query_convenience_matches_the_parser() -> None:
    q = parse_query("Bob in Paris 2019", PEOPLE, PLACES, now=NOW)
    assert q.people_all == ("Robert",) and q.places == ("Paris",)
    assert q.dates.start == datetime(2019, 1, 1)


def test_to_json_is_plain_data(parser: QueryParser) -> None:
    data = parser.parse("Alice without Bob in June 2019").to_json()
    assert data["people_all"] == ["Alice"] and data["people_none"] == ["Robert"]
    assert data["dates"] == {
        "start": "2019-06-01T00:00:00",
        "end": "2019-07-01T00:00:00",
        "label": "June 2019",
    }


def test_without_the_statistical_model_enrolled_names_still_work(monkeypatch) -> None:
    import spacy

    def missing(*args, **kwargs):
        raise OSError("no such model")

    monkeypatch.setattr(spacy, "load", missing)
    blank = query_lexicon._load_engine()  # a fresh engine, leaving the loaded one alone
    assert not blank.statistical
    monkeypatch.setattr(query_lexicon, "engine", lambda: blank)
    q = QueryParser(PEOPLE, PLACES, now=NOW).parse("photos of alice and Carol in Paris last summer")
    assert q.people_all == ("Alice",)
    assert q.places == ("Paris",)
    assert q.dates.start == datetime(2026, 6, 1)
    assert q.unknown_names == ()  # nothing can find unknown names without the model


# --- words written in the photo (searched in the text OCR read) ---


@pytest.mark.parametrize(
    ("query", "words", "text"),
    [
        ('"IPA"', ("IPA",), ""),
        ('"rodeo clown"', ("rodeo clown",), ""),
        ("\u201cRODEO CLOWN\u201d", ("RODEO CLOWN",), ""),  # curly quotes
        ('"IPA', ("IPA",), ""),  # a quote left open runs to the end
        ('"2019"', ("2019",), ""),  # text on a sign, not a year
        ("a sign that says open late", ("open late",), "a sign"),
        ('a sign that says "STOP"', ("STOP",), "a sign"),
        ("the menu saying pizza margherita", ("pizza margherita",), "the menu"),
        ("a cake with the words happy birthday", ("happy birthday",), "a cake"),
        ('"beer" and "wine" on a board', ("beer", "wine"), "on a board"),
    ],
)
def test_quoted_and_said_text_is_searched_in_the_photos(parser, query, words, text) -> None:
    q = parser.parse(query)
    assert (q.words, q.text) == (words, text)
    assert not q.unknown_names and q.dates is None


def test_the_rest_of_a_query_with_written_words_is_still_read(parser) -> None:
    q = parser.parse("Alice by a sign that says open in Paris in 2019")
    assert q.words == ("open",)
    assert q.people_all == ("Alice",) and q.places == ("Paris",)
    assert (q.dates.start, q.dates.end) == d("2019-01-01", "2020-01-01")
    assert parser.parse('receipt saying "TOTAL 42" from last year').dates is not None
    assert parser.parse("a reading lamp").words == ()  # "reading" with nothing after it
