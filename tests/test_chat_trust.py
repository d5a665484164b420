"""The chat stays trustworthy over time and when several people share one link.

Stable "person N" numbers, no silent overwrite between sessions, edits that contradict the
faces ask first, names that are plain text, and uploads that are checked before decoding.
"""

from __future__ import annotations

import struct
import zlib

import pytest
from test_conversation import NOW, FakeLibrary, changed

from assistant.conversation import Assistant
from index.errors import InvalidInput
from index.library import Library
from index.settings import Settings


@pytest.fixture
def lib(tmp_path):
    return FakeLibrary(tmp_path)


@pytest.fixture
def assistant(lib):
    return Assistant(lib, now=NOW)


# --- numbers that never move under the user ---


def test_person_numbers_stay_put_after_a_naming(assistant, lib):
    chat = assistant.new_session()
    offered = chat.respond("photos of Carol")
    assert [(f.number, f.person_id) for f in offered.faces] == [(1, 3), (2, 4)]
    chat.respond("person 1 is Carol")
    again = chat.respond("who do you know?")
    assert [(f.number, f.person_id) for f in again.faces] == [(2, 4)]  # not renumbered to 1
    chat.respond("person 2 is Dan")
    assert ("name_person", 4, "Dan") in lib.calls


def test_a_new_group_gets_a_new_number_never_an_old_one(assistant, lib):
    chat = assistant.new_session()
    chat.respond("who do you know?")  # person 1 = group 3, person 2 = group 4
    chat.respond("person 1 is Carol")
    lib.people_by_id[5] = type(lib.people_by_id[3])(5, None)
    lib.photos[5]["people"] = [5]
    offered = chat.respond("who do you know?")
    assert [(f.number, f.person_id) for f in offered.faces] == [(2, 4), (3, 5)]


def test_two_sessions_naming_the_same_group_ask_before_overwriting(assistant, lib):
    one, two = assistant.new_session(), assistant.new_session()
    one.respond("who do you know?")
    two.respond("who do you know?")
    one.respond("person 1 is Xavier")
    asked = two.respond("person 1 is Yolanda")
    assert "named **Xavier** a moment ago" in asked.text and "Yolanda" in asked.text
    assert lib.people_by_id[3].name == "Xavier"  # nothing overwritten yet
    done = two.respond("yes")
    assert lib.people_by_id[3].name == "Yolanda" and "person 1" in done.text
    assert done.people_changed


def test_saying_no_keeps_the_other_sessions_name(assistant, lib):
    one, two = assistant.new_session(), assistant.new_session()
    one.respond("who do you know?")
    two.respond("who do you know?")
    one.respond("person 1 is Xavier")
    two.respond("person 1 is Yolanda")
    assert "left it as it was" in two.respond("no").text
    assert lib.people_by_id[3].name == "Xavier"


def test_a_question_not_answered_is_never_acted_on_later(assistant, lib):
    one, two = assistant.new_session(), assistant.new_session()
    one.respond("who do you know?")
    two.respond("who do you know?")
    one.respond("person 1 is Xavier")
    two.respond("person 1 is Yolanda")
    two.respond("photos of Alice")
    assert "nothing waiting" in two.respond("yes").text
    assert lib.people_by_id[3].name == "Xavier"


# --- edits that contradict the faces ask first ---


def test_a_merge_of_clearly_different_faces_asks_first_and_yes_goes_ahead(assistant, lib):
    lib.gaps[(4, 2)] = 0.93
    chat = assistant.new_session()
    chat.respond("who do you know?")
    asked = chat.respond("merge person 2 into Bob")
    assert asked.intent == "confirm_asked"
    assert "look like different people" in asked.text and "0.93" in asked.text
    assert "0.55" in asked.text  # what faces of one person usually show
    assert changed(lib) == []
    merged = chat.respond("yes")
    assert ("merge", 4, "Bob") in lib.calls
    assert "Merged **person 2** into **Bob**" in merged.text  # the user's words, not an id


def test_a_merge_of_alike_faces_just_merges(assistant, lib):
    chat = assistant.new_session()
    chat.respond("who do you know?")
    merged = chat.respond("merge person 2 into Bob")
    assert ("merge", 4, "Bob") in lib.calls and "who now has" in merged.text


def test_naming_a_group_with_someone_elses_name_is_a_merge_that_asks_when_far(assistant, lib):
    lib.gaps[(3, 1)] = 0.9
    chat = assistant.new_session()
    chat.respond("who do you know?")
    asked = chat.respond("person 1 is Alice")
    assert asked.intent == "confirm_asked" and changed(lib) == []
    chat.respond("yes")
    assert ("merge", 3, "Alice") in lib.calls


# --- names are plain text; what users typed is escaped ---


@pytest.mark.parametrize(
    "message",
    ["photo 1 is <img src=//example.com/p.png>", "photo 1 is Bob_[x](http://e.com)"],
)
def test_markup_names_are_refused_and_quoted_back_escaped(assistant, lib, message):
    chat = assistant.new_session()
    chat.respond("photos from 2020")
    reply = chat.respond(message)
    assert changed(lib) == []
    assert "<img" not in reply.text and "[x](http" not in reply.text


def test_typed_markup_in_a_search_is_echoed_as_text(assistant):
    reply = assistant.new_session().respond("photos of <b>Alice</b> from 2019")
    assert "<b>" not in reply.text and "&lt;b&gt;" in reply.text


@pytest.mark.parametrize(
    "name, ok",
    [
        ("Zoë O'Brien-Smith Jr.", True),
        ("李小龙", True),
        ("Άννα", True),
        ("<b>Bob</b>", False),
        ("Bob_1", False),
        ("bob@example.com", False),
    ],
)
def test_the_library_accepts_letters_of_any_script_and_refuses_the_rest(tmp_path, name, ok):
    with Library(tmp_path / "data") as library:
        if ok:
            assert library.people.check_name(name) == name
        else:
            with pytest.raises(InvalidInput, match="cannot be a name"):
                library.people.check_name(name)


def test_a_too_long_name_says_the_limit(tmp_path):
    with Library(tmp_path / "data") as library, pytest.raises(InvalidInput) as err:
        library.people.check_name("A" * 200)
    assert "too long (60 at most)" in str(err.value)


# --- uploads are checked before decoding ---


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header (what a decompression bomb does)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    idat = zlib.compress(b"\0" * 1024)  # a little of the image: it never gets decoded
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture
def bad_uploads(tmp_path):
    from PIL import Image

    good = tmp_path / "good.jpg"
    Image.new("RGB", (64, 48), "red").save(good, "JPEG")
    files = {
        "empty": (tmp_path / "empty.jpg", b""),
        "not_an_image": (tmp_path / "notes.jpg", b"this is a shopping list, not a photo\n" * 20),
        "truncated": (tmp_path / "cut.jpg", good.read_bytes()[:200]),
        "bomb": (tmp_path / "bomb.png", _png_header(12_000, 12_000)),
        "too_big": (tmp_path / "big.jpg", good.read_bytes() + b"\0" * 2_100_000),
    }
    for path, data in files.values():
        path.write_bytes(data)
    return {k: str(path) for k, (path, _data) in files.items()}


@pytest.mark.parametrize(
    "kind, words",
    [
        ("empty", "empty"),
        ("not_an_image", "not an image"),
        ("truncated", "truncated"),
        ("bomb", "too large"),
        ("too_big", "limited to 2 MB"),
    ],
)
def test_each_bad_upload_gets_one_clear_sentence(tmp_path, bad_uploads, kind, words):
    settings = Settings(upload_max_mb=2)
    with Library(tmp_path / "data", settings=settings) as library:
        with pytest.raises(InvalidInput) as err:
            library.open_upload(bad_uploads[kind])
        message = str(err.value)
        assert words in message and message.count(". ") == 0, message
        assert "12000×12000" in message if kind == "bomb" else True


def test_a_bad_upload_in_the_chat_is_answered_not_crashed(assistant, bad_uploads):
    reply = assistant.new_session().respond("who is this?", upload=bad_uploads["empty"])
    assert reply.intent == "error" and "empty" in reply.text


def test_a_photos_larger_view_names_everyone_in_it_not_only_who_was_searched(assistant):
    reply = assistant.new_session().respond("photos of Alice")
    assert "Alice, Bob" in reply.photos[0].details  # photo 1 shows Alice and Bob


def test_refinements_do_not_pile_up_in_the_echoed_query(assistant):
    chat = assistant.new_session()
    chat.respond("photos of Alice")
    chat.respond("only the ones from 2019")
    reply = chat.respond("only the ones from 2020")
    assert reply.query.raw == "photos of Alice — only the ones from 2020"


# --- the rooms: intents checked at start, one door into index/ ---


def test_an_intent_without_a_handler_stops_the_assistant_at_start(lib):
    from assistant.replies import Wording

    wording = Wording()
    wording.intents["intent"].append({"name": "dance", "pattern": "dance"})
    with pytest.raises(RuntimeError, match="no handler for dance"):
        Assistant(lib, wording=wording)


def test_the_assistant_reaches_index_only_through_its_front_door():
    import ast
    from pathlib import Path

    allowed = {"index.library", "index.types", "index.errors", "index.settings"}
    folder = Path(__file__).resolve().parent.parent / "assistant"
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("index"):
                assert node.module in allowed, f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("index."), f"{path.name}: {alias.name}"
            command_line = (
                isinstance(node, ast.Attribute) and getattr(node.value, "id", "") == "args"
            )
            if isinstance(node, ast.Attribute) and node.attr == "clip" and not command_line:
                raise AssertionError(f"{path.name} touches .clip (line {node.lineno})")


# --- the same on real faces (public face photos, tiny random CLIP) ---

from test_conversation import real_library  # noqa: E402,F401 (a fixture: seven indexed photos)


def test_real_faces_of_two_people_are_further_apart_than_one_persons(real_library):  # noqa: F811
    angelina = max(real_library.people.everyone(), key=lambda p: p.photo_count)  # her three photos
    real_library.people.name_person(angelina.id, "Zoe")
    usual = real_library.settings.face_max_distance
    alex = real_library.resolve_photo("alex_lacamoire_1.jpg")["path"]
    assert real_library.people.face_gap(alex, "Zoe") > usual  # naming him Zoe would ask first
    own = real_library.resolve_photo("angelina_2.jpg")["path"]
    assert real_library.people.face_gap(own, "Zoe") is None  # already hers: nothing to ask
    before = [(p.id, p.face_count) for p in real_library.people.everyone()]
    chat = Assistant(real_library, now=NOW).new_session()
    chat.memory.hits = [type("Shown", (), {"path": alex})()]  # as if a search had shown it
    asked = chat.respond("photo 1 is Zoe")
    assert asked.intent == "confirm_asked" and "looks different from **Zoe**" in asked.text
    assert f"{real_library.people.face_gap(alex, 'Zoe'):.2f}" in asked.text
    chat.respond("no")
    assert [(p.id, p.face_count) for p in real_library.people.everyone()] == before


def test_a_group_merged_away_by_another_session_is_said_plainly(assistant, lib):
    one, two = assistant.new_session(), assistant.new_session()
    one.respond("who do you know?")
    two.respond("who do you know?")
    one.respond("merge person 2 into Bob")
    reply = two.respond("person 2 is Dan")
    assert "isn't there any more" in reply.text and ("name_person", 4, "Dan") not in lib.calls
