"""The finer look: in a crowd, MTCNN's finer pyramid levels find the small faces the first
look passed over, on the evaluation photos, and nothing where there is no face."""

from __future__ import annotations

import pytest
from face_photos import analyzer, eval_faces_dir, eval_photo
from PIL import Image

from index.boxes import box_iou
from index.faces import FaceAnalyzer, _Candidate
from index.settings import Settings

pytestmark = pytest.mark.slow

S = Settings()
CROWD = "_unknown_people/dlib_2007_007763.jpg"  # a crowd of small faces (500 x 375)


def without_finer_look() -> FaceAnalyzer:
    """An analyzer that looks once, sharing the test run's models."""
    once = FaceAnalyzer(Settings().override(face_finer_below=0))
    once.embedder, once._detectors = analyzer().embedder, analyzer()._detectors
    return once


def folder(name: str) -> list[str]:
    """The photos of one evaluation folder, relative to the face photos."""
    root = eval_faces_dir() / name
    return sorted(f"{name}/{p.name}" for p in root.iterdir() if p.suffix.lower() == ".jpg")


def test_in_a_crowd_the_finer_look_finds_the_small_faces_the_first_look_passed_over():
    photo = eval_photo(CROWD)
    first = without_finer_look().analyze(photo)
    both = analyzer().analyze(photo)
    assert len(first) == 1 and first[0].size < S.face_finer_below  # one small face: a crowd
    added = [f for f in both if all(box_iou(f.box, g.box) < 0.3 for g in first)]
    assert len(added) >= 5 and len(both) == len(first) + len(added)
    for face in added:  # real faces, smaller than the first look takes, each once
        assert S.face_finer_min_size <= face.size < S.face_min_size * 1.25
        assert len(face.landmarks) == 5 and face.score >= S.face_min_score
        assert face.vector.shape == (128,)
    assert all(box_iou(a.box, b.box) < 0.3 for a, b in zip(both, both[1:], strict=False))


def test_the_unknown_peoples_crowds_give_many_more_faces():
    photos = folder("_unknown_people")
    once = sum(len(without_finer_look().analyze(eval_photo(p))) for p in photos)
    twice = sum(len(analyzer().analyze(eval_photo(p))) for p in photos)
    assert twice >= once + 10


def test_the_finer_levels_find_no_face_on_the_photos_without_one():
    """Searched as if the first look had found a small face (the first look finds none)."""
    speck = _Candidate(box=(0.0, 0.0, 1.0, 1.0), landmarks=(), score=1.0)
    for rel in folder("_nofaces"):
        photo = eval_photo(rel)
        shrink = max(1.0, max(photo.size) / S.face_detect_size)
        small = photo.resize((round(photo.width / shrink), round(photo.height / shrink)))
        assert analyzer().finer_look(small, shrink, [speck]) == [], rel
        assert analyzer().analyze(photo) == [], rel


def test_a_portrait_is_looked_at_once(monkeypatch):
    photo = eval_photo("angelina/4.jpg")
    looks = []
    detect = analyzer().detect

    def counted(image, scale=1.0, sizes=None):
        looks.append(sizes)
        return detect(image, scale, sizes)

    monkeypatch.setattr(analyzer(), "detect", counted)
    faces = analyzer().analyze(photo)
    assert len(faces) == 1 and faces[0].size >= S.face_finer_below
    assert looks == [None]  # the first look only


def test_a_copy_too_small_to_look_finer_is_not_searched_again(monkeypatch):
    """A photo searched on a copy 2.5 times smaller: its first look already reached the
    finest level the detector takes (face_detect_min_px), so no finer one is left, even
    around a small face."""
    small_face = _Candidate(box=(100.0, 100.0, 120.0, 120.0), landmarks=(), score=0.99)
    assert S.face_finer_below > 20 * 2.5
    monkeypatch.setattr(analyzer(), "detect", lambda *a, **k: pytest.fail("searched again"))
    assert analyzer().finer_look(Image.new("RGB", (640, 480)), 2.5, [small_face]) == []
