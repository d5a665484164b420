"""German, French and Spanish queries in their main forms: people, with / without / only,
dates, places; and a word of another language is never taken for a name."""

from __future__ import annotations

from datetime import datetime

import pytest

from assistant.query import QueryParser

NOW = datetime(2026, 11, 27, 15, 0)


@pytest.fixture(scope="module")
def parser() -> QueryParser:
    return QueryParser({"Alice": [], "Bob": [], "Hugo Lindqvist": []}, ["Paris"], now=NOW)


@pytest.mark.parametrize(
    "message, expected",
    [
        ("Fotos von Bob", {"people_all": ("Bob",)}),
        ("Fotos von Alice mit Bob", {"people_all": ("Alice", "Bob")}),
        ("Fotos von Alice ohne Bob", {"people_all": ("Alice",), "people_none": ("Bob",)}),
        ("Bilder von Alice im Juli 2019", {"people_all": ("Alice",), "dates": "2019-07"}),
        (
            "Fotos von Alice mit Bob letzten Sommer",
            {"people_all": ("Alice", "Bob"), "dates": "2026-06"},
        ),
        ("nur Alice", {"people_all": ("Alice",), "only": True}),
        ("zeig mir Fotos von Hugo", {"people_all": ("Hugo Lindqvist",)}),
        (
            "photos d'Alice à Paris en 2019",
            {"people_all": ("Alice",), "places": ("Paris",), "dates": "2019-01"},
        ),
        ("photos d'Alice sans Bob", {"people_all": ("Alice",), "people_none": ("Bob",)}),
        ("photos de Bob l'été dernier", {"people_all": ("Bob",), "dates": "2026-06"}),
        ("montre-moi les photos d'Alice et Bob", {"people_all": ("Alice", "Bob")}),
        ("fotos de Alice sin Bob", {"people_all": ("Alice",), "people_none": ("Bob",)}),
        ("fotos de Alice con Bob en París", {"people_all": ("Alice", "Bob")}),
        ("fotos de Bob el verano pasado", {"people_all": ("Bob",), "dates": "2026-06"}),
        (
            "muéstrame fotos de Alice en marzo de 2020",
            {"people_all": ("Alice",), "dates": "2020-03"},
        ),
        ("solo Bob", {"people_all": ("Bob",), "only": True}),
    ],
)
def test_a_query_in_another_language_reads_people_dates_and_places(parser, message, expected):
    q = parser.parse(message)
    assert not q.unknown_names, q
    assert q.people_all == expected["people_all"], q
    assert q.people_none == expected.get("people_none", ()), q
    assert q.only == expected.get("only", False), q
    if "places" in expected:
        assert q.places == expected["places"], q
    if "dates" in expected:
        assert q.dates is not None and q.dates.start.isoformat()[:7] == expected["dates"], q


@pytest.mark.parametrize(
    "message",
    ["Fotos von Carla", "photos de Carla", "fotos de Carla", "Bilder mit Carla"],
)
def test_an_unknown_name_in_another_language_is_the_name_alone(parser, message):
    q = parser.parse(message)
    assert q.unknown_names == ("Carla",), q
