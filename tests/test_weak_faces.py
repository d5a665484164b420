"""Weak faces (turned away, doubted by the detector, no landmarks) join a person only on
the evidence a core face needs, never on one borderline neighbour."""

from __future__ import annotations

import numpy as np
import pytest
from face_photos import analyze_eval, eval_faces_dir, person_photos

from index.catalog import Catalog
from index.clustering import FaceSet, absorb, assign_new_faces, cluster_all, weak_faces
from index.settings import Settings

S = Settings()
DIM = 128
FRONTAL = [(30.0, 40.0), (70.0, 40.0), (50.0, 62.0), (35.0, 80.0), (65.0, 80.0)]
TURNED = [(30.0, 40.0), (70.0, 40.0), (30.0, 62.0), (28.0, 80.0), (55.0, 80.0)]  # nose under an eye
NONE = [(np.nan, np.nan)] * 5


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def at(centre: np.ndarray, distance: float, rng: np.random.Generator) -> np.ndarray:
    """A vector `distance` (L2) away from `centre`, in a random direction."""
    step = unit(rng.normal(size=DIM))
    step -= (step @ centre) * centre  # orthogonal: the distance is exactly as asked
    return centre + distance * unit(step)


def faces(vectors, photos, weak=None, persons=None, locked=None) -> FaceSet:
    n = len(vectors)
    return FaceSet(np.arange(1, n + 1), photos, np.stack(vectors), persons, locked, weak)


def test_turned_doubted_and_landmarkless_faces_are_weak_and_a_clear_frontal_face_is_not():
    points = np.array([FRONTAL, TURNED, FRONTAL, NONE])
    scores = np.array([0.999, 0.999, 0.95, 0.999])
    assert weak_faces(scores, points, S).tolist() == [False, True, True, True]


def test_a_face_smaller_than_the_first_look_takes_is_weak():
    """Found by the finer look in a crowd: a clear frontal face, but few pixels."""
    points = np.array([FRONTAL, FRONTAL, FRONTAL])
    scores = np.array([0.999, 0.999, 0.999])
    sizes = np.array([S.face_min_size, S.face_min_size - 1, S.face_min_size // 2])
    assert weak_faces(scores, points, S, sizes).tolist() == [False, True, True]
    assert weak_faces(scores, points, S).tolist() == [False, False, False]  # size unknown


def test_a_weak_face_does_not_join_a_named_person_on_one_borderline_neighbour():
    rng = np.random.default_rng(0)
    alice = unit(rng.normal(size=DIM))
    named, other = alice, at(alice, 0.3, rng)  # Alice twice, the first named by the user
    stranger = at(named, 0.52, rng)  # within face_max_distance of one of her faces only
    assert np.linalg.norm(stranger - other) > S.face_max_distance
    vectors, photos = [named, other, stranger], [10, 11, 20]
    persons, locked = np.array([7, -1, -1]), np.array([True, False, False])
    sure = cluster_all(faces(vectors, photos, [False] * 3, persons, locked), S)
    assert sure.joined == {2: 7, 3: 7}  # a clear face joins on the one neighbour (as before)
    weak = cluster_all(faces(vectors, photos, [False, False, True], persons, locked), S)
    assert weak.joined == {2: 7} and 3 in weak.unassigned


def test_a_weak_face_joins_a_person_it_is_near_in_several_photos():
    rng = np.random.default_rng(1)
    bob = unit(rng.normal(size=DIM))
    known = [at(bob, 0.2, rng) for _ in range(4)]
    turned = at(bob, 0.3, rng)  # within face_max_distance of all four
    existing = faces(known, [1, 2, 3, 4], persons=np.full(4, 5))
    new = FaceSet([9], [9], turned[None], weak=[True])
    assert assign_new_faces(new, existing, S).joined == {9: 5}


def test_weak_faces_never_make_a_person_of_their_own():
    rng = np.random.default_rng(2)
    carol = unit(rng.normal(size=DIM))
    vectors = [at(carol, 0.15, rng) for _ in range(4)]
    result = cluster_all(faces(vectors, [1, 2, 3, 4], [True] * 4), S)
    assert result.new_people == () and len(result.unassigned) == 4
    assert len(cluster_all(faces(vectors, [1, 2, 3, 4], [False] * 4), S).new_people) == 1


def test_naming_a_person_absorbs_a_weak_face_only_on_a_core_faces_evidence():
    rng = np.random.default_rng(3)
    dan = unit(rng.normal(size=DIM))
    person = faces([dan, at(dan, 0.3, rng)], [1, 2])
    lone = at(dan, 0.5, rng)  # near the first face only (checked below)
    assert np.linalg.norm(lone - person.vectors[1]) > S.face_max_distance
    close = at(dan, 0.35, rng)  # within face_pair_distance of the first
    candidates = FaceSet([8, 9], [8, 9], np.stack([lone, close]), weak=[True, True])
    assert absorb(person, candidates, S).keys() == {9}
    clear = FaceSet([8, 9], [8, 9], np.stack([lone, close]))
    assert absorb(person, clear, S).keys() == {8, 9}


@pytest.mark.slow
def test_a_stranger_turned_from_the_camera_does_not_join_ariel_sharon():
    """The evaluation's one wrong hit before this rule: a small, turned face of an unknown
    man, 0.548 from one photo of Ariel Sharon and further from all the others."""
    eval_faces_dir()
    # His face in each of his photos: the largest one (some have people behind him).
    sharon = [
        max(analyze_eval(rel), key=lambda f: f.size) for rel in person_photos()["ariel_sharon"]
    ]
    stranger = analyze_eval("_unknown_people/dlib_2007_007763.jpg")
    near = [f for f in stranger if min(np.linalg.norm(f.vector - s.vector) for s in sharon) < 0.55]
    assert len(near) == 1
    face = near[0]
    flags = weak_faces(np.array([face.score]), np.array([face.landmarks]), S)
    assert flags.tolist() == [True]
    vectors = [s.vector for s in sharon] + [face.vector]
    n = len(sharon)
    persons = np.array([4] * n + [-1])
    locked = np.array([True] + [False] * n)
    photos = list(range(n + 1))
    result = cluster_all(faces(vectors, photos, [False] * n + [True], persons, locked), S)
    assert n + 1 not in result.joined  # Sharon's own photos all stay his
    assert set(result.joined) == set(range(2, n + 1))


def test_the_catalog_hands_clustering_every_face_with_its_landmarks_locks_and_vector(tmp_path):
    catalog = Catalog(tmp_path)
    with catalog.transaction():
        photo = catalog.upsert_photo(
            {"path": "/p/a.jpg", "path_raw": b"/p/a.jpg", "size": 1, "mtime_ns": 1,
             "width": 100, "height": 100, "status": "ok"}
        )  # fmt: skip
        rng = np.random.default_rng(2)
        vectors = [unit(rng.normal(size=DIM)).astype(np.float32) for _ in range(3)]
        boxes = [(0.0, 0.0, 90.0, 100.0), (100.0, 0.0, 190.0, 100.0), (200.0, 0.0, 230.0, 40.0)]
        rows = [
            {"box": box, "landmarks": marks, "score": 0.99, "vector": vec}
            for box, marks, vec in zip(boxes, [FRONTAL, [], TURNED], vectors, strict=True)
        ]
        first, second, third = catalog.put_faces(photo, "m", rows)
        person = catalog.add_person("Ann")
        catalog.assign_faces([(first, person, 0.1)], source="user")
        catalog.reject_face(third, person)
    arrays = catalog.face_arrays("m")
    assert arrays["ids"].tolist() == [first, second, third]
    assert arrays["persons"].tolist() == [person, -1, -1]
    assert arrays["locked"].tolist() == [True, False, True]  # named by the user; refused once
    assert np.array_equal(arrays["vectors"], np.stack(vectors))
    assert np.allclose(arrays["landmarks"][0], FRONTAL)
    assert np.isnan(arrays["landmarks"][1]).all()  # found without landmarks
    assert np.allclose(arrays["landmarks"][2], TURNED)
    assert arrays["sizes"].tolist() == [90.0, 90.0, 30.0]  # each box's shorter side
    assert weak_faces(arrays["scores"], arrays["landmarks"], S).tolist() == [False, True, True]
    catalog.close()
