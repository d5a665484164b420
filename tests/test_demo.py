"""The demo library (demo/photos, 15 public-domain photos) indexed for real, offline:
people found twice, a place from GPS, a year from EXIF, words on a beer board."""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

import pytest

import app
from assistant.server import DEMO_PHOTOS, plan

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("demo-data")
    # No CLIP weights offline: people, dates, places and words work without them.
    assert app.main(["index", str(DEMO_PHOTOS), "--data", str(data), "--json"]) == 0
    return data


def run(capsys, data: Path, *argv: str) -> dict | list:
    capsys.readouterr()
    assert app.main([*argv, "--data", str(data), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def found(capsys, data: Path, query: str) -> list[str]:
    return [Path(h["path"]).name for h in run(capsys, data, "search", query)["hits"]]


def test_serve_demo_serves_the_demo_photos(tmp_path):
    args = Namespace(demo=True, data=str(tmp_path), library=None, auth=None, share=False)
    assert plan(args).library_dir == DEMO_PHOTOS


def test_the_demo_groups_the_face_it_finds_in_two_photos(capsys, data):
    # Marie Curie, in both copies of the portrait (one stored rotated). Pierre stands in
    # profile, which MTCNN does not detect; the barmaid is in one photo only.
    groups = [p for p in run(capsys, data, "people") if p["photos"] >= 2]
    assert [(g["photos"], g["faces"]) for g in groups] == [(2, 2)]


def test_the_demo_finds_its_gps_photo_by_place_and_its_heic_by_year(capsys, data):
    # thompson-springs.jpg's EXIF GPS (39.115 N, 108.401 W) lies in Colorado, near Palisade.
    assert found(capsys, data, "photos in Colorado")[0] == "thompson-springs.jpg"
    assert found(capsys, data, "photos from 2019")[0] == "IMG_2682.heic"


def test_quoted_words_find_the_beer_board_with_its_text_as_the_reason(capsys, data):
    doc = run(capsys, data, "search", '"IPA"')
    first = doc["hits"][0]
    assert Path(first["path"]).name == "craft-beer.jpg"
    assert any(r.startswith('text: "') and "IPA" in r.upper() for r in first["reasons"])
    assert any("RODEO CLOWN" in line for line in first["words"])
    assert found(capsys, data, "a board that says rodeo clown")[0] == "craft-beer.jpg"


def test_a_quoted_word_in_no_photo_finds_nothing(capsys, data):
    doc = run(capsys, data, "search", '"zanzibar"')
    assert doc["hits"] == []
    assert any("zanzibar" in n for n in doc["notes"])


def test_naming_marie_curie_in_one_photo_finds_her_in_both(capsys, data):
    faces = {"portrait.jpg", "portrait-orientation-6.jpg"}
    capsys.readouterr()
    assert app.main(["name", "portrait.jpg", "Marie Curie", "--data", str(data)]) == 0
    assert set(found(capsys, data, "photos of Marie Curie")) == faces


def test_in_the_chat_quoted_words_find_a_photo_to_ask_about(data):
    from assistant.conversation import Assistant
    from index.library import Library

    with Library(data) as lib:
        chat = Assistant(lib).new_session()
        found_ipa = chat.respond('"IPA"')
        assert found_ipa.photos and "Words in the photo" in found_ipa.photos[0].details
        assert "face 1" in chat.respond("who is in photo 1?").text
        nothing = chat.respond("a sign that says zanzibar")
        assert not nothing.photos and "zanzibar" in nothing.text
