"""Search: filters in SQL, CLIP-vector ranking restricted to them, the tail cut, the reasons.

The library here is built row by row through the catalog with synthetic vectors. Where a
description must become a vector, the tests hand the searcher fixed vectors (a test double
for the text encoder): they test the plumbing and the ranking, never what words mean.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from index.library import Library
from index.ranking import face_confidence, photo_confidence, rank_by_confidence, tail_cut
from index.search import Searcher, TextVectors, load_templates
from index.settings import Settings
from index.types import DateRange, Query

DIM = 32
FACE_MODEL = "dlib"
BEACH, CITY, SNOW = 0, 1, 2  # synthetic "concept" axes of the vector space


def axis(i: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """A unit vector along one concept axis, optionally blurred with noise."""
    v = np.zeros(DIM, np.float32)
    v[i] = 1.0
    blur = noise * np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    blur[[BEACH, CITY, SNOW]] = 0.0  # a photo is about one concept only
    v += blur
    return v / np.linalg.norm(v)


class Builder:
    """Adds photos, people and faces to a library's catalog the way the indexer would."""

    def __init__(self, lib: Library):
        self.lib = lib
        self.cat = lib.catalog
        self.people: dict[str, int] = {}

    def person(self, name: str | None, aliases: tuple[str, ...] = ()) -> int:
        with self.cat.transaction():
            pid = self.cat.add_person(name)
            for alias in aliases:
                self.cat.add_alias(pid, alias)
        self.people[name or f"person {pid}"] = pid
        return pid

    def photo(
        self,
        name: str,
        taken_at: str | None = None,
        place: str | None = None,
        vector: np.ndarray | None = None,
        faces: tuple = (),
        width: int = 1000,
    ) -> int:
        """faces: (x1, x2, person name or None, distance[, source]) — boxes span y 100..300."""
        path = f"/photos/{name}.jpg"
        with self.cat.transaction():
            pid = self.cat.upsert_photo(
                {"path": path, "path_raw": path.encode(), "size": 1, "mtime_ns": 1,
                 "hash": name, "width": width, "height": 800, "taken_at": taken_at,
                 "taken_source": "exif" if taken_at else None, "place": place, "status": "ok"}
            )  # fmt: skip
            if vector is not None:
                self.cat.put_image_vector(pid, self.lib.clip.spec, vector)
                self.cat.bump_generation("images")
            stored = [
                {"box": (x1, 100.0, x2, 300.0), "landmarks": [], "score": 0.99,
                 "vector": np.zeros(128, np.float32)}
                for x1, x2, *_ in faces
            ]  # fmt: skip
            face_ids = self.cat.put_faces(pid, FACE_MODEL, stored)
            for face_id, (_, _, who, dist, *source) in zip(face_ids, faces, strict=True):
                if who is not None:
                    src = source[0] if source else "auto"
                    self.cat.assign_faces([(face_id, self.people[who], dist)], src)
        return pid


def library(tmp_path: Path, clip: str | None = None, **settings) -> Library:
    return Library(tmp_path / "data", clip=clip, settings=Settings(**settings), faces=False)


def filler(b: Builder, n: int = 60) -> None:
    """Photos of nothing in particular: random directions, old dates, no faces."""
    rng = np.random.default_rng(7)
    for i in range(n):
        v = rng.standard_normal(DIM).astype(np.float32)
        v[[BEACH, CITY, SNOW]] = 0.0  # none of them is about a concept
        b.photo(f"filler{i:02d}", taken_at=f"2012-03-{1 + i % 28:02d}T10:00:00", vector=v)


def family(tmp_path: Path, clip: str | None = None, **settings) -> tuple[Library, Builder]:
    """A small library: Alice (alias Ally), Bob, Dave, one unnamed cluster, 60 filler photos."""
    lib = library(tmp_path, clip, **settings)
    b = Builder(lib)
    b.person("Alice", aliases=("Ally",))
    b.person("Bob")
    b.person("Dave")
    b.person(None)  # an unnamed cluster: "person 4"
    b.photo("alice_bob_beach", "2019-07-01T12:00:00", "Paris, France", axis(BEACH, 0.2, 1),
            faces=((100, 300, "Alice", 0.30), (500, 700, "Bob", 0.20)))  # fmt: skip
    b.photo("alice_city", "2020-01-05T09:00:00", "Lyon, France", axis(CITY, 0.2, 2),
            faces=((100, 400, "Alice", 0.10),))  # fmt: skip
    b.photo("alice_small_stranger", "2018-05-01T09:00:00", None, axis(CITY, 0.5, 3),
            faces=((100, 400, "Alice", 0.40), (800, 830, None, None)))  # fmt: skip
    b.photo("alice_big_stranger", "2018-06-01T09:00:00", None, axis(CITY, 0.5, 4),
            faces=((100, 300, "Alice", 0.40), (500, 700, None, None)))  # fmt: skip
    b.photo("alice_cluster", "2017-01-01T09:00:00", None, None,
            faces=((100, 300, "Alice", 0.40), (500, 700, "person 4", 0.30)))  # fmt: skip
    b.photo("bob_berlin", "2021-02-02T09:00:00", "Berlin, Germany", axis(SNOW, 0.3, 5),
            faces=((100, 300, "Bob", 0.25),))  # fmt: skip
    b.photo("beach_nobody", "2019-08-01T12:00:00", "Paris, France", axis(BEACH, 0.3, 6))
    filler(b)
    return lib, b


def names(result) -> list[str]:
    return [Path(h.path).stem for h in result.hits]


@pytest.fixture
def fam(tmp_path: Path) -> tuple[Library, Builder]:
    lib, b = family(tmp_path)
    yield lib, b
    lib.close()


def test_people_all_needs_every_person_in_the_photo(fam):
    lib, _ = fam
    assert names(lib.search(Query(people_all=("Alice", "Bob")))) == ["alice_bob_beach"]


def test_people_any_takes_photos_of_either(fam):
    lib, _ = fam
    got = set(names(lib.search(Query(people_any=("Bob", "Dave")))))
    assert got == {"alice_bob_beach", "bob_berlin"}


def test_a_photo_with_several_wanted_people_comes_back_once(fam):
    lib, _ = fam
    got = names(lib.search(Query(people_any=("Alice", "Bob"))))
    assert len(got) == len(set(got)) == 6


def test_people_none_leaves_out_photos_with_that_person(fam):
    lib, _ = fam
    got = set(names(lib.search(Query(people_all=("Alice",), people_none=("Bob",)))))
    assert got == {"alice_city", "alice_small_stranger", "alice_big_stranger", "alice_cluster"}


def test_only_excludes_other_known_people_and_large_strangers_but_not_background_faces(fam):
    lib, _ = fam
    got = set(names(lib.search(Query(people_all=("Alice",), only=True))))
    # Bob (named) and person 4 (an unnamed cluster) are somebody; a tiny unknown face is not.
    assert got == {"alice_city", "alice_small_stranger"}


def test_names_resolve_case_insensitively_by_alias_and_by_cluster_label(fam):
    lib, b = fam
    assert set(names(lib.search(Query(people_all=("ally",))))) == set(
        names(lib.search(Query(people_all=("Alice",))))
    )
    assert names(lib.search(Query(people_all=("person 4",)))) == ["alice_cluster"]


def test_date_filter_is_half_open(fam):
    lib, _ = fam
    dates = DateRange(datetime(2019, 7, 1, 12), datetime(2019, 8, 1, 12), "summer 2019")
    assert names(lib.search(Query(dates=dates))) == ["alice_bob_beach"]


def test_place_matches_a_city_or_a_country_but_not_part_of_a_word(fam):
    lib, _ = fam
    assert set(names(lib.search(Query(places=("paris",))))) == {"alice_bob_beach", "beach_nobody"}
    france = set(names(lib.search(Query(places=("France",)))))
    assert france == {"alice_bob_beach", "beach_nobody", "alice_city"}
    result = lib.search(Query(places=("Par",)))
    assert result.hits == () and "Par" in result.notes[0]


def test_unknown_person_gives_a_note_and_no_hits_never_the_whole_library(fam):
    lib, _ = fam
    for query in (Query(people_all=("Zoe",)), Query(unknown_names=("Zoe",), text="at the beach")):
        result = lib.search(query)
        assert result.hits == ()
        assert any("Zoe" in n for n in result.notes)


def test_excluding_an_unknown_person_excludes_nobody_and_says_so(fam):
    lib, _ = fam
    result = lib.search(Query(people_all=("Bob",), people_none=("Zoe",)))
    assert set(names(result)) == {"alice_bob_beach", "bob_berlin"}
    assert any("Zoe" in n for n in result.notes)


def test_same_person_wanted_and_excluded_is_explained_not_searched(fam):
    lib, _ = fam
    result = lib.search(Query(people_all=("Alice",), people_none=("ally",)))
    assert result.hits == ()
    assert "Alice" in result.notes[0] and "both" in result.notes[0]


def test_a_date_range_in_the_future_says_so(fam):
    lib, _ = fam
    start = datetime.now() + timedelta(days=400)
    result = lib.search(Query(dates=DateRange(start, start + timedelta(days=365), "next year")))
    assert result.hits == () and "future" in result.notes[0]


@pytest.mark.parametrize("text", ["", "   ", "?!…", "🙂🙂"])
def test_an_empty_query_asks_what_to_look_for(fam, text):
    lib, _ = fam
    result = lib.search(Query(raw=text, text=text))
    assert result.hits == () and "what to look for" in result.notes[0]


def test_without_text_people_rank_by_face_confidence_then_newest(fam):
    lib, _ = fam
    got = names(lib.search(Query(people_all=("Alice",))))
    # Closest faces first; the three at distance 0.40 (all large, all clear) newest first.
    assert got == [
        "alice_city", "alice_bob_beach",
        "alice_big_stranger", "alice_small_stranger", "alice_cluster",
    ]  # fmt: skip


def test_without_text_and_people_filters_give_newest_first(fam):
    lib, _ = fam
    assert names(lib.search(Query(places=("France",)))) == [
        "alice_city", "beach_nobody", "alice_bob_beach",
    ]  # fmt: skip


def test_limit_defaults_to_the_setting_and_is_honoured(tmp_path):
    lib, _ = family(tmp_path, search_default_limit=3)
    assert (
        len(lib.search(Query(dates=DateRange(datetime(2000, 1, 1), datetime(2030, 1, 1)))).hits)
        == 3
    )
    assert len(lib.search(Query(people_all=("Alice",), limit=2)).hits) == 2
    lib.close()


def test_hits_explain_person_face_distance_date_and_place(fam):
    lib, _ = fam
    dates = DateRange(datetime(2019, 1, 1), datetime(2020, 1, 1), "2019")
    hit = lib.search(Query(people_all=("Alice",), dates=dates, places=("Paris",))).hits[0]
    assert [p.name for p in hit.people] == ["Alice"]
    assert hit.people[0].distance == pytest.approx(0.30)
    assert "Alice (face 1, distance 0.30)" in hit.reasons
    assert "taken 2019-07-01 (from the camera's EXIF), in 2019" in hit.reasons
    assert "in Paris, France" in hit.reasons


def test_a_face_the_user_named_is_explained_as_their_choice(tmp_path):
    lib = library(tmp_path)
    b = Builder(lib)
    b.person("Alice")
    b.photo("named", "2019-01-01T00:00:00", faces=((100, 300, "Alice", 0.0, "user"),))
    hit = lib.search(Query(people_all=("Alice",))).hits[0]
    assert hit.reasons == ("Alice (face 1, named by you)",)


# --- text: ranking by a (fixed) query vector ---


def fixed_text(**vectors: np.ndarray):
    """A stand-in for the CLIP text encoder: known words -> given vectors."""
    return lambda text: vectors[text]


@pytest.fixture
def searcher(tmp_path: Path, tiny_clip_spec: str) -> Library:
    """The family library, its searcher built with fixed text vectors (no back-reference)."""
    lib, _ = family(tmp_path, clip=tiny_clip_spec)
    text = fixed_text(beach=axis(BEACH), snow=axis(SNOW), nothing=axis(DIM - 1))
    lib.searcher = Searcher(lib.catalog, lib.image_index, text, lib.settings, lib.clip.spec)
    yield lib
    lib.close()


def test_text_ranks_the_whole_library_and_cuts_the_unrelated_tail(searcher):
    result = searcher.search(Query(text="beach"))
    assert names(result) == ["alice_bob_beach", "beach_nobody"]
    assert result.hits[0].score > result.hits[1].score
    assert result.hits[0].reasons[0].startswith('looks like "beach" (similarity')


def test_text_search_is_restricted_to_the_filtered_candidates(searcher):
    result = searcher.search(Query(text="beach", people_all=("Alice",)))
    assert names(result) == ["alice_bob_beach"]
    assert result.total_candidates == 5
    assert "Alice (face 1, distance 0.30)" in result.hits[0].reasons


def test_a_description_that_matches_nothing_returns_no_hits_and_says_so(searcher):
    result = searcher.search(Query(text="nothing"))
    assert result.hits == ()
    assert result.notes == ('No good matches for "nothing".',)


def test_no_good_match_among_a_person_photos_names_the_filter(searcher):
    result = searcher.search(Query(text="snow", people_all=("Alice",)))
    assert result.hits == ()
    assert "among the 5 photos matching Alice" in result.notes[0]


def test_search_like_finds_similar_photos_but_never_the_photo_itself(searcher):
    result = searcher.search_like("alice_bob_beach.jpg")
    assert names(result)[0] == "beach_nobody"
    assert "alice_bob_beach" not in names(result)
    assert result.hits[0].reasons[0].startswith("looks like alice_bob_beach.jpg")


def test_search_like_accepts_an_uploaded_image(tmp_path, tiny_clip_spec):
    lib = library(tmp_path, clip=tiny_clip_spec)
    b = Builder(lib)
    red = lib.clip.encode_images([Image.new("RGB", (64, 64), "red")])[0]
    b.photo("red", vector=red)
    b.photo("other", vector=-red)
    result = lib.search_like(Image.new("RGB", (64, 64), "red"))
    assert names(result)[0] == "red"
    assert result.hits[0].score == pytest.approx(1.0, abs=1e-4)
    lib.close()


def test_clip_unavailable_keeps_people_search_and_says_text_needs_the_model(fam):
    lib, _ = fam  # the default CLIP weights cannot be downloaded here (offline)
    result = lib.search(Query(text="at the beach", people_all=("Bob",)))
    assert set(names(result)) == {"alice_bob_beach", "bob_berlin"}
    assert not lib.clip.is_available()
    assert lib.clip.load_error in result.notes[0] and "CLIP" in result.notes[0]
    only_text = lib.search(Query(text="at the beach"))
    assert only_text.hits == () and "CLIP" in only_text.notes[0]


def test_photo_info_lists_the_named_people_left_to_right(fam):
    lib, b = fam
    hit = lib.search(Query(people_all=("Alice", "Bob"))).hits[0]
    info = lib.photo_info(hit.photo_id)
    assert [(p["name"], p["index"]) for p in info["people"]] == [("Alice", 1), ("Bob", 2)]
    assert info["place"] == "Paris, France" and info["width"] == 1000


# --- the text encoder ---


def test_text_vector_is_the_normalised_mean_over_templates_and_is_cached(tiny_clip_spec):
    from index.models import ClipModel

    clip = ClipModel(tiny_clip_spec)
    templates = ("a photo of {}.", "{}")
    encode = TextVectors(clip, templates, cache_size=2)
    expected = clip.encode_texts(["a photo of a dog.", "a dog"]).mean(axis=0)
    got = encode("a  Dog")  # case and spacing do not make a new query
    assert np.allclose(got, expected / np.linalg.norm(expected), atol=1e-5)
    calls = []
    clip.encode_texts = lambda texts: calls.append(texts) or np.ones((len(texts), 32))
    encode("a dog")
    assert calls == []  # cached
    encode("cat"), encode("bird"), encode("a dog")
    assert len(calls) == 3  # "a dog" fell out of a cache of two


def test_templates_file_has_placeholders():
    templates = load_templates()
    assert templates and all("{}" in t for t in templates)


# --- ranking functions: arrays in, arrays out ---


def background(n: int = 1000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.2, 0.02, n)


def test_tail_cut_finds_no_match_in_a_query_that_matches_nothing():
    bg = background()
    top = np.sort(background(200, seed=1))[::-1]  # the best of chance, nothing more
    kept, _ = tail_cut(top, bg, Settings())
    assert kept == 0


def test_tail_cut_keeps_a_clear_winner_alone():
    bg = background()
    scores = np.concatenate([[0.35], np.sort(background(50, seed=2))[::-1]])
    kept, z = tail_cut(scores, bg, Settings())
    assert kept == 1 and z[0] > 5


def test_tail_cut_does_not_depend_on_the_score_scale():
    bg = background()
    scores = np.array([0.34, 0.33, 0.31, 0.27, 0.24, 0.22])
    kept, _ = tail_cut(scores, bg, Settings())
    kept_scaled, _ = tail_cut(scores * 3.0 + 1.0, bg * 3.0 + 1.0, Settings())
    assert kept == kept_scaled == 3


def test_tail_cut_never_declares_no_match_on_a_tiny_library():
    kept, _ = tail_cut(np.array([0.3, 0.2, 0.1]), np.array([0.3, 0.2, 0.1]), Settings())
    assert kept >= 1


def test_face_confidence_prefers_close_large_clear_faces():
    s = Settings()
    conf = face_confidence(
        np.array([0.1, 0.5, 0.1, 0.1]), np.array([0.3, 0.3, 0.02, 0.3]),
        np.array([0.99, 0.99, 0.99, 0.91]), s,
    )  # fmt: skip
    assert conf[0] == conf.max() and conf[0] <= 1.0
    assert conf[1] < conf[0] and conf[2] < conf[0] and conf[3] < conf[0]


def test_photo_confidence_needs_every_wanted_person_and_any_group_counts_once():
    candidates = np.array([10, 11, 12])
    face_photo = np.array([10, 10, 11, 12, 12])
    face_person = np.array([1, 2, 1, 2, 3])
    conf = np.array([0.8, 0.6, 0.9, 0.5, 0.7])
    got = photo_confidence(candidates, face_photo, face_person, conf, (1,), (2, 3))
    assert np.allclose(got, [0.7, 0.45, 0.35])


def test_rank_by_confidence_breaks_near_ties_by_input_order():
    order = rank_by_confidence(np.array([0.52, 0.58, 0.91, 0.2]), bucket=0.1)
    assert order.tolist() == [2, 0, 1, 3]
