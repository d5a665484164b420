"""What a video's moments show: faces looked for in every moment that shows something new (a
face that stays put in a shot not embedded again), words read in each distinct moment, and a
search for the person or the words opens the video where they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from index import videos
from index.faces import DetectedFace, FaceAnalyzer
from index.library import Library
from index.settings import Settings
from index.types import Query
from index.video_faces import seen_before, video_faces
from index.videos import Moment, shots
from tests.video_files import write_video

DEMO = Path(__file__).resolve().parents[1] / "demo" / "photos"


def moment(t: float, change: float) -> Moment:
    return Moment(t, Image.new("RGB", (8, 8), (int(t), 0, 0)), change)


def face(x: float, vector: float) -> DetectedFace:
    return DetectedFace((x, 10.0, x + 50.0, 60.0), (), 0.99, np.full(4, vector, np.float32))


def test_words_are_read_in_each_moment_that_shows_something_new():
    grey = [np.full((16, 16), v, np.float32) for v in (0, 5, 60, 62, 10)]
    moments = [Moment(2.0 * k, Image.new("RGB", (8, 8)), 1.0, g) for k, g in enumerate(grey)]
    assert videos.distinct(moments, 0.06) == [0, 2, 4]


def test_shots_are_cut_at_scene_changes_and_every_few_moments():
    settings = Settings(video_scene_change=0.12, video_shot_moments=3)
    changes = [1.0, 0.05, 0.30, 0.01, 0.02, 0.05, 0.04, 0.5]
    runs = shots([moment(2.0 * k, c) for k, c in enumerate(changes)], settings)
    assert runs == [[0, 1], [2, 3, 4], [5, 6], [7]]


def test_a_moment_like_the_one_before_is_not_looked_at_again_and_faces_carry_their_time():
    settings = Settings(video_scene_change=0.12, video_face_still=0.02, decode_workers=1)
    moments = [moment(0.0, 1.0), moment(2.0, 0.01), moment(4.0, 0.06), moment(6.0, 0.4)]
    looked: list[tuple[float, bool]] = []

    def faces_of(image, known):
        t = float(image.getpixel((0, 0))[0])
        looked.append((t, known is not None))
        found = [face(100.0, 0.0)] if t < 6 else [face(300.0, 5.0)]
        return found, [b"jpeg"] * len(found)

    found, crops = video_faces(moments, faces_of, settings, scale=1.0)
    # 2 s is 0 s again; 4 s is in the same shot (its faces may be known); 6 s is a new scene.
    assert looked == [(0.0, False), (4.0, True), (6.0, False)]
    assert [f.time_s for f in found] == [0.0, 6.0] and len(crops) == 2


def test_the_videos_shots_run_on_threads_kept_so_face_models_load_once_per_thread():
    import threading

    settings = Settings(video_scene_change=0.12, video_shot_moments=1, decode_workers=2)
    threads: list[threading.Thread] = []  # held: a thread's id may be reused once it ends

    def faces_of(image, known):
        threads.append(threading.current_thread())
        return [], []

    for _video in range(3):
        moments = [moment(2.0 * k, 1.0) for k in range(4)]  # four shots each
        video_faces(moments, faces_of, settings, scale=1.0)
    assert len(threads) == 12 and len(set(threads)) <= 2
    assert threading.main_thread() not in threads


def test_a_face_found_again_where_it_was_keeps_its_vector_unless_it_looks_different():
    portrait = Image.open(DEMO / "portrait.jpg").convert("RGB")
    landscape = Image.open(DEMO / "el_torcal_rocks.jpg").convert("RGB").resize(portrait.size)
    seen = [face(200.0, 0.5)]
    box = seen[0].box
    same = seen_before((portrait, seen), portrait, Settings(), scale=1.0)
    assert np.allclose(same(box), 0.5)
    assert same((600.0, 400.0, 650.0, 450.0)) is None  # somewhere else
    other = seen_before((portrait, seen), landscape, Settings(), scale=1.0)
    assert other(box) is None  # the same place, another picture: embedded anew


def test_the_face_models_keep_a_known_vector_and_embed_the_rest():
    analyzer = FaceAnalyzer(Settings())
    portrait = Image.open(DEMO / "portrait.jpg").convert("RGB")
    first = analyzer.analyze(portrait)
    assert len(first) >= 1
    marker = np.full_like(first[0].vector, 0.5)
    assert all(
        np.allclose(f.vector, 0.5) for f in analyzer.analyze(portrait, known=lambda b: marker)
    )
    fresh = analyzer.analyze(portrait, known=lambda b: None)
    assert np.allclose(fresh[0].vector, first[0].vector)


def test_the_moment_shown_is_like_the_query_else_where_the_person_was_seen():
    times = [0.0, 2.0, 4.0, 6.0]
    vecs = np.eye(4, dtype=np.float32)
    assert videos.shown_moment(times, vecs, np.array([0, 0, 1, 0], np.float32), [6.0]) == 2
    assert videos.shown_moment(times, vecs, None, [5.8]) == 3
    assert videos.shown_moment(times, vecs, None, [None, 2.1]) == 1
    assert videos.shown_moment(times, vecs, None, []) == 0


def test_a_people_only_search_opens_the_video_where_the_person_is(tmp_path, tiny_clip_spec):
    landscape = Image.open(DEMO / "el_torcal_rocks.jpg").convert("RGB")
    portrait = Image.open(DEMO / "portrait.jpg").convert("RGB")
    write_video(tmp_path / "photos" / "visit.mp4", [landscape, portrait], 4.0, size=(480, 640))
    lib = Library(tmp_path / "data", clip=tiny_clip_spec, settings=Settings(), faces=True)
    lib.index(tmp_path / "photos")
    video = lib.resolve_photo("visit.mp4")
    faces = lib.catalog.faces_of_photo(video["id"])
    assert len(faces) == 1 and faces[0]["time_s"] == pytest.approx(4.0, abs=0.6)
    with lib.catalog.transaction():
        person = lib.catalog.add_person("Marie")
        lib.catalog.assign_faces([(faces[0]["id"], person, 0.0)], source="user")
        lib.catalog.bump_generation("faces")
    hits = lib.search(Query(raw="Marie", people_all=("Marie",))).hits
    assert [Path(h.path).name for h in hits] == ["visit.mp4"]
    assert hits[0].time_s == pytest.approx(4.0, abs=0.6)
    lib.close()


def test_words_on_a_sign_seen_later_make_the_video_findable_there(tmp_path, tiny_clip_spec):
    landscape = Image.open(DEMO / "el_torcal_rocks.jpg").convert("RGB")
    board = Image.open(DEMO / "craft-beer.jpg").convert("RGB")
    write_video(tmp_path / "photos" / "pub.mp4", [landscape, board], 4.0, size=(1600, 1066))
    lib = Library(tmp_path / "data", clip=tiny_clip_spec, settings=Settings(), faces=False)
    lib.index(tmp_path / "photos")
    assert lib.read_words(tmp_path / "photos").with_text == 1
    video = lib.resolve_photo("pub.mp4")
    lines = lib.catalog.text_lines([video["id"]])[video["id"]]
    assert all(line["time_s"] == pytest.approx(4.0, abs=0.6) for line in lines)
    hits = lib.search(Query(raw='"rodeo clown"', words=("rodeo clown",))).hits
    assert [Path(h.path).name for h in hits] == ["pub.mp4"]
    assert hits[0].time_s == pytest.approx(4.0, abs=0.6)
    lib.close()
