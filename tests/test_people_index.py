"""The in-memory people map answers exactly what the catalog's SQL answers, and follows
every change to who is in which photo."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from index.catalog import Catalog
from index.people_index import PeopleIndex

PEOPLE = 5


@pytest.fixture
def catalog(tmp_path) -> Catalog:
    """120 photos (some undated, one skipped), 0-3 faces each, most assigned to 5 people."""
    rng = np.random.default_rng(3)
    cat = Catalog(tmp_path / "data")
    with cat.transaction():
        people = [cat.add_person(f"P{i}") for i in range(PEOPLE)]
        for i in range(120):
            path = f"/lib/{i:03d}.jpg"
            taken = None if i % 17 == 0 else f"20{10 + i % 12:02d}-0{1 + i % 9}-1{i % 10}T10:00:00"
            pid = cat.upsert_photo(
                {"path": path, "path_raw": path.encode(), "size": 1, "mtime_ns": 1,
                 "width": 1000, "height": 800, "taken_at": taken, "taken_source": "exif",
                 "status": "skipped" if i == 50 else "ok"}
            )  # fmt: skip
            k = int(rng.integers(0, 4))
            faces = [
                {"box": (100.0 * j, 10.0, 100.0 * j + 80, 90.0), "landmarks": [],
                 "score": float(rng.uniform(0.9, 1)), "vector": np.zeros(4, np.float32)}
                for j in range(k)
            ]  # fmt: skip
            ids = cat.put_faces(pid, "dlib", faces)
            who = rng.choice(PEOPLE, size=k, replace=False)
            assigned = [
                (f, people[w], float(rng.uniform(0.1, 0.5)))
                for f, w in zip(ids, who, strict=True)
                if w != 4 or i % 2  # some faces of the fifth person stay unassigned
            ]
            cat.assign_faces(assigned, "auto")
    return cat


def combinations():
    ids = range(1, PEOPLE + 1)
    for a in ids:
        yield (a,), (), ()
        for b in ids:
            if b != a:
                yield (a, b), (), ()
                yield (a,), (), (b,)
                yield (), (a, b), ()
    yield (), (1, 2, 3), (4,)


def test_people_filters_match_the_catalog_exactly(catalog):
    memory = PeopleIndex(catalog).current()
    for all_of, any_of, none_of in combinations():
        expected = catalog.filter_photos(all_of, any_of, none_of, newest_first=True)
        assert memory.photos(all_of, any_of, none_of).tolist() == expected.tolist()
        unordered = memory.photos(all_of, any_of, none_of, newest_first=False)
        assert sorted(unordered.tolist()) == sorted(expected.tolist())


def test_faces_of_people_match_the_catalog(catalog):
    memory = PeopleIndex(catalog).current()
    for group in ((1,), (2, 3), (1, 2, 3, 4, 5)):
        got, want = memory.faces_of(group), catalog.faces_of_people(group)
        order_got, order_want = np.argsort(got["face_id"]), np.argsort(want["face_id"])
        for column in want:
            np.testing.assert_array_equal(got[column][order_got], want[column][order_want])


def test_the_map_follows_naming_merging_and_removals(catalog):
    memory = PeopleIndex(catalog)
    before = memory.current().photos((1,)).tolist()
    face = catalog.faces_of_people([2])["face_id"][0]
    with catalog.transaction():  # the user says a face of person 2 is person 1
        catalog.assign_faces([(int(face), 1, 0.0)], source="user")
    after = memory.current().photos((1,)).tolist()
    assert after == catalog.filter_photos((1,)).tolist() and after != before
    with catalog.transaction():
        catalog.delete_photos(after[:3])
    assert memory.current().photos((1,)).tolist() == after[3:]


def test_an_unknown_person_is_in_no_photo(catalog):
    memory = PeopleIndex(catalog).current()
    assert memory.photos((99,)).tolist() == []
    assert len(memory.faces_of([99])["face_id"]) == 0
    for a, b in itertools.permutations((1, 99)):
        assert memory.photos((a, b)).tolist() == []


def test_one_person_ranked_from_memory_matches_the_ranking_from_sql(catalog):
    from index.ranking import face_confidence, photo_confidence, rank_by_confidence
    from index.search import Searcher
    from index.settings import Settings
    from index.types import Query

    settings = Settings()
    searcher = Searcher(catalog, lambda: None, lambda text: None, settings, "none")
    for person in range(1, PEOPLE + 1):
        got = searcher.search(Query(people_all=(f"P{person - 1}",), limit=500))
        candidates = catalog.filter_photos((person,), newest_first=True)
        faces = catalog.faces_of_people([person])
        conf = face_confidence(faces["distance"], faces["width"], faces["score"], settings)
        photo_conf = photo_confidence(
            candidates, faces["photo_id"], faces["person_id"], conf, (person,), ()
        )
        order = rank_by_confidence(photo_conf, settings.face_rank_bucket)
        assert len(got.hits) > 5
        assert [h.photo_id for h in got.hits] == candidates[order].tolist()
        np.testing.assert_allclose([h.score for h in got.hits], photo_conf[order])
