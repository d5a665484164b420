"""Questions about the library, counted by the catalog: how many, when, which years, where,
who with. A real catalog of 300 synthetic photos; every figure is checked against a count
made in Python from the same rows."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime

import numpy as np
import pytest

from index.library import Library
from index.settings import Settings
from index.types import DateRange, Query

NAMES = ["Alice Martin", "Bob Stone", "Carol Jones", "Dave Jones"]
PLACES = ["Paris, France", "Lyon, France", "Denver, United States"]


@pytest.fixture(scope="module")
def library(tmp_path_factory, tiny_clip_spec):
    """300 photos 2015-2024, a third with a place, a third file-dated; 1-3 people each."""
    rng = random.Random(7)
    lib = Library(
        tmp_path_factory.mktemp("facts"), clip=tiny_clip_spec, settings=Settings(), faces=False
    )
    cat = lib.catalog
    truth = []
    with cat.transaction():
        ids = {name: cat.add_person(name) for name in NAMES}
        for i in range(300):
            taken = datetime(2015 + i % 10, 1 + i % 12, 1 + i % 28, 12).isoformat()
            place = PLACES[i % 3] if i % 3 else None
            source = "file" if i % 3 == 2 else "exif"
            path = f"/photos/{i:04d}.jpg"
            pid = cat.upsert_photo(
                {"path": path, "path_raw": path.encode(), "size": 1, "mtime_ns": 1,
                 "width": 4000, "height": 3000, "taken_at": taken, "place": place,
                 "taken_source": source, "status": "ok"}
            )  # fmt: skip
            who = rng.sample(NAMES, rng.randint(0, 3))
            boxes = [
                {"box": (100.0 * k, 0.0, 100.0 * k + 50, 50.0), "landmarks": [], "score": 0.99,
                 "vector": np.zeros(4, np.float32)}
                for k in range(len(who))
            ]  # fmt: skip
            faces = cat.put_faces(pid, "dlib", boxes)
            cat.assign_faces([(f, ids[n], 0.2) for f, n in zip(faces, who, strict=True)], "user")
            truth.append({"id": pid, "taken": taken, "place": place, "file": source == "file",
                          "who": set(who)})  # fmt: skip
    yield lib, truth
    lib.close()


def rows_of(truth, person=None, year=None, place_part=None):
    out = truth
    if person:
        out = [r for r in out if person in r["who"]]
    if year:
        out = [r for r in out if r["taken"].startswith(str(year))]
    if place_part:
        out = [r for r in out if r["place"] and place_part in r["place"]]
    return out


def test_how_many_counts_the_library_a_person_and_a_person_in_a_year_and_place(library):
    lib, truth = library
    assert lib.facts(Query()).count == 300
    assert lib.facts(Query(people_all=("Bob Stone",))).count == len(rows_of(truth, "Bob Stone"))
    year = DateRange(datetime(2019, 1, 1), datetime(2020, 1, 1), "2019")
    q = Query(people_all=("Bob Stone",), dates=year, places=("France",))
    assert lib.facts(q).count == len(rows_of(truth, "Bob Stone", 2019, "France"))


def test_when_first_and_last_are_the_extreme_dates_and_say_if_file_dated(library):
    lib, truth = library
    mine = sorted(rows_of(truth, "Carol Jones"), key=lambda r: (r["taken"], r["id"]))
    f = lib.facts(Query(people_all=("Carol Jones",)), frozenset({"when"}))
    assert (f.first.taken_at, f.first.uncertain) == (mine[0]["taken"], mine[0]["file"])
    assert (f.last.taken_at, f.last.uncertain) == (mine[-1]["taken"], mine[-1]["file"])
    shown = lib.search(f.last.query(Query(people_all=("Carol Jones",))))
    assert [h.photo_id for h in shown.hits] == [mine[-1]["id"]]


def test_years_and_months_count_each_period_and_its_file_dated_photos(library):
    lib, truth = library
    mine = rows_of(truth, "Alice Martin")
    f = lib.facts(Query(people_all=("Alice Martin",)), frozenset({"years"}))
    want = Counter(r["taken"][:4] for r in mine)
    unsure = Counter(r["taken"][:4] for r in mine if r["file"])
    assert f.periods == tuple((y, want[y], unsure[y]) for y in sorted(want))
    months = lib.facts(Query(people_all=("Alice Martin",)), frozenset({"months"})).periods
    assert sum(n for _, n, _ in months) == len(mine) and all(len(k) == 7 for k, _, _ in months)


def test_where_lists_places_with_counts_most_first(library):
    lib, truth = library
    mine = rows_of(truth, "Dave Jones")
    want = Counter(r["place"] for r in mine if r["place"])
    f = lib.facts(Query(people_all=("Dave Jones",)), frozenset({"places"}))
    assert dict(f.places) == dict(want)
    assert [n for _, n in f.places] == sorted(want.values(), reverse=True)


def test_who_with_ranks_the_others_by_shared_photos(library):
    lib, truth = library
    mine = rows_of(truth, "Bob Stone", place_part="Paris")
    want = Counter(n for r in mine for n in r["who"] if n != "Bob Stone")
    q = Query(people_all=("Bob Stone",), places=("Paris",))
    f = lib.facts(q, frozenset({"people"}))
    assert dict(f.people) == dict(want)
    assert [n for _, n in f.people] == sorted(want.values(), reverse=True)


def test_an_unknown_person_counts_nothing_and_says_why(library):
    lib, _ = library
    f = lib.facts(Query(people_all=("Zed",)))
    assert f.count == 0 and any("Zed" in n for n in f.notes)
