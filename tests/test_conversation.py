"""The chat's conversation: intents, per-session memory and replies, without a browser.

Two layers: a scripted dialogue against a small in-test library double (every intent, every
malformed command, exact state changes), then the same kind of dialogue against a real
library of public face photos with the tiny random CLIP model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from assistant.conversation import Assistant, Conversation, Reply, refine_query
from index.errors import Conflict, InvalidInput, ModelUnavailable, NotFound
from index.settings import Settings
from index.types import Hit, PersonMatch, Query, SearchResult

NOW = datetime(2024, 6, 1)


# --- a small library double: the Library contract, in memory ---


@dataclass
class _Person:
    id: int
    name: str | None
    aliases: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or f"person {self.id}"


@dataclass(frozen=True)
class _PersonInfo:
    id: int
    name: str | None
    label: str
    photo_count: int
    face_count: int
    crop: str | None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class _FaceInfo:
    face_id: int
    index: int
    box: tuple
    person_id: int | None
    label: str | None
    distance: float
    crop: str | None


@dataclass(frozen=True)
class _Naming:
    person_id: int
    name: str
    faces: int
    photos: int
    joined: int = 0


class _Clip:
    def __init__(self, available: bool):
        self.available = available
        self.loaded = False


class _Catalog:
    def __init__(self, lib: FakeLibrary):
        self.lib = lib

    def years(self) -> list[int]:
        return sorted({int(p["taken_at"][:4]) for p in self.lib.photos}, reverse=True)


class _People:
    """The people of the library double (`FakeLibrary.people`), like index/people.py's."""

    def __init__(self, lib: FakeLibrary):
        self.lib = lib

    def check_name(self, name: str) -> str:
        if not name or any(not (c.isalpha() or c in " '-.") for c in name):
            raise InvalidInput(f'"{name}" cannot be a name.')
        return name

    def gap(self, a, b) -> float | None:
        return self.lib.gaps.get((self.lib._id_of(a), self.lib._id_of(b)), 0.3)

    def face_gap(self, ref, name: str, face: int | None = None) -> float | None:
        return None

    def names(self) -> dict[str, list[str]]:
        return {p.name: list(p.aliases) for p in self.lib.people_by_id.values() if p.name}

    def everyone(self) -> list[_PersonInfo]:
        out = []
        for p in self.lib.people_by_id.values():
            count = sum(p.id in ph["people"] for ph in self.lib.photos)
            out.append(
                _PersonInfo(
                    p.id, p.name, p.label, count, count, f"/crops/{p.id}.jpg", tuple(p.aliases)
                )
            )
        return sorted(out, key=lambda i: (i.name is None, i.id))

    def photo_faces(self, ref) -> list[_FaceInfo]:
        ph = self.lib._photo(ref)
        return [
            _FaceInfo(
                ph["id"] * 10 + k, k, (0, 0, 1, 1), pid, self.lib.people_by_id[pid].label, 0.3, None
            )
            for k, pid in enumerate(ph["people"], 1)
        ]

    def who_is(self, image) -> list[_FaceInfo]:
        return [_FaceInfo(99, 1, (0, 0, 1, 1), 1, "Alice", 0.2, None)]

    def name_person(self, person_id: int, name: str, check=False, expected_name=None) -> _Naming:
        current = self.lib.people_by_id[self.lib._id_of(person_id)].name
        if check and current != expected_name:
            raise Conflict(f"person {person_id} was named {current} meanwhile.", current)
        self.lib.calls.append(("name_person", person_id, name))
        self.lib.people_by_id[person_id].name = name
        return self.lib._naming(person_id)

    def name_face(self, ref, name: str, face: int | None = None) -> _Naming:
        ph = self.lib._photo(ref)
        if face is None and len(ph["people"]) > 1:
            raise InvalidInput(f"That photo has {len(ph['people'])} faces; which one?")
        self.lib.calls.append(("name_face", ph["id"], name, face))
        pid = ph["people"][(face or 1) - 1]
        self.lib.people_by_id[pid].name = name
        return self.lib._naming(pid)

    def rename(self, old: str, new: str) -> _Naming:
        self.lib.calls.append(("rename", old, new))
        self.lib.people_by_id[self.lib._id_of(old)].name = new
        return self.lib._naming(self.lib._id_of(new))

    def merge(self, a, b) -> _Naming:
        self.lib.calls.append(("merge", a, b))
        src, dst = self.lib._id_of(a), self.lib._id_of(b)
        for ph in self.lib.photos:
            ph["people"] = [dst if p == src else p for p in ph["people"]]
        del self.lib.people_by_id[src]
        return self.lib._naming(dst)

    def forget(self, name: str) -> None:
        self.lib.calls.append(("forget", name))
        self.lib.people_by_id[self.lib._id_of(name)].name = None

    def unassign(self, ref, name: str) -> None:
        ph = self.lib._photo(ref)
        pid = self.lib._id_of(name)
        if pid not in ph["people"]:
            raise NotFound(f"{name} is not in that photo.")
        self.lib.calls.append(("unassign", ph["id"], name))
        ph["people"].remove(pid)

    def add_alias(self, name: str, alias: str) -> None:
        self.lib.calls.append(("alias", name, alias))
        self.lib.people_by_id[self.lib._id_of(name)].aliases.append(alias)

    def remove_alias(self, name: str, alias: str) -> None:
        self.lib.calls.append(("remove_alias", name, alias))
        self.lib.people_by_id[self.lib._id_of(name)].aliases.remove(alias)

    def unname(self, person_id: int) -> None:
        self.lib.calls.append(("unname", person_id))
        self.lib.people_by_id[self.lib._id_of(person_id)].name = None


class FakeLibrary:
    """Photos 1-6 with faces of Alice (1), Bob (2) and two unnamed people (3, 4)."""

    def __init__(self, tmp: Path, clip: bool = True, read_only: bool = False):
        self.read_only = read_only
        self.settings = Settings(chat_page_size=3)
        self.clip = _Clip(clip)
        self.catalog = _Catalog(self)
        self.calls: list[tuple] = []
        self.people = _People(self)
        self.gaps: dict[tuple[int, int], float] = {}  # closest-face distances between people
        self.people_by_id = {
            1: _Person(1, "Alice"),
            2: _Person(2, "Bob"),
            3: _Person(3, None),
            4: _Person(4, None),
        }
        layout = [  # (taken_at, person ids left to right)
            ("2019-07-01T10:00:00", [1, 2]),
            ("2019-08-01T22:00:00", [1]),
            ("2020-01-05T12:00:00", [3]),
            ("2021-03-03T09:00:00", [2, 3]),
            ("2021-05-05T09:00:00", [4]),
            ("2018-01-01T09:00:00", []),
        ]
        self.photos = []
        for i, (taken, people) in enumerate(layout, 1):
            path = tmp / f"p{i}.jpg"
            path.write_bytes(b"jpg")
            self.photos.append(
                {"id": i, "path": str(path), "taken_at": taken, "people": list(people)}
            )

    # models and uploads
    def text_model_problem(self) -> str | None:
        return None if self.clip.available else "run `hf download laion/CLIP-ViT-B-32` once online."

    def text_model_loaded(self) -> bool:
        return self.clip.loaded

    def text_model_ready(self, download=None) -> bool:
        self.clip.loaded = self.clip.available
        return self.clip.available

    def open_upload(self, path) -> str:
        if not Path(path).stat().st_size:
            raise InvalidInput("That file is empty (0 bytes), so there is no photo to look at.")
        return f"pixels of {path}"

    # people (the state lives here; the edits in `_People`)
    def _names(self, ids: list[int]) -> list[str]:
        return [self.people_by_id[i].name for i in ids if self.people_by_id[i].name]

    def _id_of(self, name) -> int:
        if isinstance(name, int) and name in self.people_by_id:
            return name
        if isinstance(name, int):
            raise NotFound(f"There is no person {name}.")
        if name.startswith("person "):
            pid = int(name.split()[1])
            if pid in self.people_by_id:
                return pid
        for p in self.people_by_id.values():
            if p.name and p.name.lower() == name.lower():
                return p.id
        raise NotFound(f"I don't know anyone called {name}.")

    def _photo(self, ref) -> dict:
        for ph in self.photos:
            if ref in (ph["id"], ph["path"]):
                return ph
        raise NotFound(f"{ref} is not a photo in this library.")

    def _naming(self, pid: int) -> _Naming:
        n = sum(pid in ph["people"] for ph in self.photos)
        return _Naming(pid, self.people_by_id[pid].name, n, n)

    def places(self) -> list[str]:
        return []

    def photo_clip(self, photo_id: int) -> str | None:
        return None  # no motion photos, Live Photos or videos here

    def names_in_photos(self, photo_ids) -> dict[int, list[str]]:
        return {ph["id"]: self._names(ph["people"]) for ph in self.photos if ph["id"] in photo_ids}

    def years(self) -> list[int]:
        return self.catalog.years()

    def stats(self) -> dict:
        return {"photos": len(self.photos)}

    def has_photos(self) -> bool:
        return bool(self.photos)

    # search
    def _hit(self, ph: dict, why: str, wanted: tuple[str, ...] = ()) -> Hit:
        # Like the real library: a hit carries the people the search asked for.
        people = tuple(
            PersonMatch(pid, self.people_by_id[pid].label, ph["id"] * 10, 0.3)
            for pid in ph["people"]
            if self.people_by_id[pid].label in wanted
        )
        return Hit(ph["id"], ph["path"], 1.0, people, (why,), ph["taken_at"], None, None)

    def search(self, query: Query) -> SearchResult:
        if query.text and not self.clip.available:
            raise ModelUnavailable("no CLIP")
        self.calls.append(("search", query))
        hits = []
        for ph in self.photos:
            names = set(self._names(ph["people"]))
            if not set(query.people_all) <= names or names & set(query.people_none):
                continue
            if query.people_any and not names & set(query.people_any):
                continue
            if query.dates and not (
                query.dates.start <= datetime.fromisoformat(ph["taken_at"]) < query.dates.end
            ):
                continue
            hits.append(self._hit(ph, "filters", (*query.people_all, *query.people_any)))
        return SearchResult(query, tuple(hits[: query.limit or 4]))

    def search_like(self, ref, limit=None, text="") -> SearchResult:
        self.calls.append(("search_like", text))
        return SearchResult(
            Query(raw="like your photo"),
            tuple(self._hit(ph, "looks alike") for ph in self.photos[:2]),
        )


@pytest.fixture
def lib(tmp_path):
    return FakeLibrary(tmp_path)


@pytest.fixture
def chat(lib) -> Conversation:
    return Assistant(lib, now=NOW).new_session()


def changed(lib: FakeLibrary) -> list[tuple]:
    return [c for c in lib.calls if c[0] not in ("search", "search_like")]


def photo_ids(reply: Reply) -> list[int]:
    return [p.photo_id for p in reply.photos]


# --- searches and refinements ---


def test_search_shows_numbered_photos_with_captions(chat):
    reply = chat.respond("photos of Alice")
    assert photo_ids(reply) == [1, 2]
    assert [p.number for p in reply.photos] == [1, 2]
    assert reply.photos[0].caption.startswith("1. 2019-07-01")
    assert "Alice" in reply.photos[0].caption and "Why it matched" in reply.photos[0].details


def test_more_shows_the_next_page_numbered_on(chat, lib):
    first = chat.respond("photos from 2018 to 2022")
    assert [p.number for p in first.photos] == [1, 2, 3]  # page size 3
    second = chat.respond("more")
    assert [p.number for p in second.photos] == [4, 5, 6]
    assert photo_ids(second) == [4, 5, 6]
    assert "That's all" in chat.respond("more").text


def test_only_the_ones_from_a_year_narrows_the_last_search(chat):
    chat.respond("photos of Alice")
    reply = chat.respond("only the ones from 2019")
    assert photo_ids(reply) == [1, 2]
    assert reply.query.people_all == ("Alice",) and reply.query.dates.start.year == 2019
    assert photo_ids(chat.respond("without Bob")) == [2]


def test_also_with_adds_a_person_to_the_last_search(chat):
    chat.respond("photos of Alice")
    reply = chat.respond("also with Bob")
    assert reply.query.people_all == ("Alice", "Bob")
    assert photo_ids(reply) == [1]


def test_instead_replaces_the_description_and_keeps_the_people(chat):
    chat.respond("photos of Alice at the beach")
    reply = chat.respond("at night instead")
    assert reply.query.text == "at night" and reply.query.people_all == ("Alice",)


def test_refine_query_drops_a_person_the_user_now_excludes():
    base = Query(raw="Alice and Bob", people_all=("Alice", "Bob"))
    merged = refine_query(base, Query(people_none=("Bob",)), "without Bob")
    assert merged.people_all == ("Alice",) and merged.people_none == ("Bob",)


# --- unknown names and naming ---


def test_unknown_name_asks_with_unnamed_faces_then_naming_reruns_the_search(chat, lib):
    ask = chat.respond("photos of Carol")
    assert ask.intent == "ask_unknown"
    assert "I don't know **Carol** yet" in ask.text
    assert [f.person_id for f in ask.faces] == [3, 4] and [f.number for f in ask.faces] == [1, 2]
    named = chat.respond("person 1 is Carol")
    assert ("name_person", 3, "Carol") in lib.calls
    assert named.people_changed and named.intent == "named_and_searched"
    assert photo_ids(named) == [3, 4]  # the pending search ran with the new name
    assert named.query.people_all == ("Carol",)
    assert photo_ids(chat.respond("photos of Carol in 2021")) == [4]


def test_number_n_names_the_nth_face_offered(chat, lib):
    chat.respond("photos of Carol")
    chat.respond("number 2 is Carol")
    assert ("name_person", 4, "Carol") in lib.calls


def test_who_is_in_photo_lists_names_and_unknown_faces_left_to_right(chat):
    chat.respond("photos from 2021")
    reply = chat.respond("who is in photo 1?")
    assert "Bob (face 1, left)" in reply.text
    assert "someone I don't know yet (face 2, right)" in reply.text
    assert [f.number for f in reply.faces] == [1, 2]


def test_photo_n_is_name_names_its_one_face(chat, lib):
    chat.respond("photos from 2020")
    reply = chat.respond("photo 1 is Dan")
    assert ("name_face", 3, "Dan", None) in lib.calls
    assert "**Dan**" in reply.text and reply.people_changed
    assert photo_ids(chat.respond("photos of Dan")) == [3, 4]


def test_photo_with_several_faces_asks_which_and_shows_them(chat, lib):
    chat.respond("photos from 2021")
    reply = chat.respond("photo 1 is Dan")
    assert "which one" in reply.text and len(reply.faces) == 2
    assert changed(lib) == []


def test_the_one_on_the_left_and_face_n_pick_a_face(chat, lib):
    chat.respond("photos from 2021")
    chat.respond("the one on the right in photo 1 is Dan")
    assert ("name_face", 4, "Dan", 2) in lib.calls
    chat.respond("face 1 in photo 1 is Robert")
    assert ("name_face", 4, "Robert", 1) in lib.calls


def test_thats_not_alice_in_photo_unassigns(chat, lib):
    chat.respond("photos of Alice")
    reply = chat.respond("that's not Alice in photo 2")
    assert ("unassign", 2, "Alice") in lib.calls and reply.people_changed


def test_rename_merge_forget_and_alias_reach_the_library(chat, lib):
    chat.respond("rename Alice to Alicia")
    assert ("rename", "Alice", "Alicia") in lib.calls
    assert chat.respond("photos of Alicia").query.people_all == ("Alicia",)
    chat.respond("who do you know?")  # offers the unnamed faces 1, 2
    chat.respond("merge person 2 into Bob")
    assert ("merge", 4, "Bob") in lib.calls
    chat.respond("Bob is also called Robert")
    assert ("alias", "Bob", "Robert") in lib.calls
    chat.respond("forget Bob")
    assert ("forget", "Bob") in lib.calls


def test_who_do_you_know_lists_named_people_and_offers_unnamed_faces(chat):
    reply = chat.respond("who do you know?")
    assert "**Alice**" in reply.text and "**Bob**" in reply.text
    assert [f.person_id for f in reply.faces] == [3, 4]


@pytest.mark.parametrize(
    "message, expected",
    [
        ("photo 99 is Bob", "There is no photo 99"),
        ("person x is", "person 2 is Carol"),
        ("rename to", "rename Alice to Alicia"),
        ("merge", "merge person 5 into Alice"),
        ("photo 1 is 42", "doesn't look like a name"),
        ("person 7 is Carol", "There is no person 7"),
    ],
)
def test_malformed_commands_explain_and_change_nothing(chat, lib, message, expected):
    chat.respond("photos of Alice")
    chat.respond("photos of Carol")  # offers two faces
    reply = chat.respond(message)
    assert expected in reply.text
    assert changed(lib) == []


def test_photo_numbers_before_any_search_are_explained(chat, lib):
    assert "Search first" in chat.respond("who is in photo 3?").text
    assert changed(lib) == []


def test_read_only_refuses_naming_politely(tmp_path):
    lib = FakeLibrary(tmp_path, read_only=True)
    chat = Assistant(lib, now=NOW).new_session()
    chat.respond("photos from 2021")
    messages = (
        "person 1 is Carol",
        "photo 1 is Carol",
        "face 1 in photo 1 is Carol",
        "that's not Alice in photo 1",
        "rename Alice to Alicia",
        "merge person 1 into Alice",
        "Alice is also called Ally",
        "forget Bob",
    )
    for message in messages:
        reply = chat.respond(message)
        assert reply.intent == "read_only", message
        assert "Naming is turned off on this link" in reply.text, message
        assert "--read-only" not in reply.text
    assert changed(lib) == []


def test_guests_on_a_read_only_link_are_never_invited_to_name(tmp_path):
    chat = Assistant(FakeLibrary(tmp_path, read_only=True), now=NOW).new_session()
    unknown = chat.respond("photos of Carol")
    assert unknown.faces == () and "is Carol" not in unknown.text
    chat.respond("photos from 2021")
    replies = [chat.respond(m) for m in ("who is in photo 1?", "who do you know?", "help")]
    for reply in replies:
        assert not re.search(r"(?:person|face|photo) \d+ is", reply.text), reply.text


# --- models, uploads, help, sessions ---


def test_missing_clip_explains_text_and_still_filters_people_and_dates(tmp_path):
    lib = FakeLibrary(tmp_path, clip=False)
    chat = Assistant(lib, now=NOW).new_session()
    text_only = chat.respond("sunset over the sea")
    assert text_only.intent == "model_missing" and "First use" in text_only.text
    assert "hf download" not in text_only.text and len(text_only.text) < 150
    assert text_only.photos == ()
    mixed = chat.respond("photos of Alice at the beach")
    assert "I searched by the people only" in mixed.text
    assert "First use" not in mixed.text  # said once a session
    assert photo_ids(mixed) == [1, 2] and mixed.query.text == ""
    assert "First use" not in chat.respond("help").text


def test_missing_clip_never_announces_loading(tmp_path):
    chat = Assistant(FakeLibrary(tmp_path, clip=False), now=NOW).new_session()
    seen: list[str] = []
    chat.respond("sunset over the sea", status=seen.append)
    assert seen == []


def test_first_text_query_reports_model_loading_once(chat):
    seen: list[str] = []
    chat.respond("sunset over the sea", status=seen.append)
    chat.respond("a dog", status=seen.append)
    assert len([s for s in seen if "Loading the image model" in s]) == 1


def test_uploaded_photo_who_is_this_like_this_and_this_person(chat, lib, tmp_path):
    from PIL import Image

    upload = tmp_path / "upload.jpg"
    Image.new("RGB", (32, 32), "red").save(upload)
    who = chat.respond("who is this?", upload=str(upload))
    assert "Alice (face 1, the only face)" in who.text
    like = chat.respond("find photos like this")  # the last upload is remembered
    assert photo_ids(like) == [1, 2] and ("search_like", "") in lib.calls
    person = chat.respond("photos of this person in 2019", upload=str(upload))
    assert person.query.people_all == ("Alice",) and photo_ids(person) == [1, 2]


def test_who_is_this_without_an_upload_says_how(chat):
    assert "Upload a photo first" in chat.respond("who is this?").text


def test_help_uses_the_users_own_names_and_years(chat):
    text = chat.respond("help").text
    assert "photos of Alice and Bob" in text and "2021" in text


def test_sessions_do_not_share_their_memory(lib):
    assistant = Assistant(lib, now=NOW)
    one, two = assistant.new_session(), assistant.new_session()
    one.respond("photos of Alice")
    assert "no search to continue" in two.respond("more").text
    assert "Search first" in two.respond("who is in photo 1?").text


def test_no_library_says_how_to_add_one():
    reply = Assistant(None).new_session().respond("photos of Alice")
    assert "--library" in reply.text and "--demo" in reply.text


# --- the same dialogue against a real library: public face photos, tiny random CLIP ---


@pytest.fixture(scope="module")
def real_library(tmp_path_factory, eval_faces):
    """A real Library of 7 public photos (two people, one photo without faces), indexed once."""
    import shutil

    from tiny_models import save_tiny_open_clip

    from index.library import Library

    folder = tmp_path_factory.mktemp("faces")
    picks = [("angelina", "1.jpg"), ("angelina", "2.jpg"), ("angelina", "3.jpg")]
    picks += [("alex_lacamoire", "1.jpg"), ("alex_lacamoire", "2.jpg")]
    picks += [("_nofaces", "dlib_dog.jpg")]
    for person, name in picks:
        shutil.copyfile(eval_faces / person / name, folder / f"{person}_{name}")
    spec = save_tiny_open_clip(tmp_path_factory.mktemp("clip"))
    lib = Library(tmp_path_factory.mktemp("data"), clip=spec)
    lib.index(folder)
    yield lib
    lib.close()


def test_a_person_named_in_chat_is_found_by_the_next_search(real_library):
    chat = Assistant(real_library, now=NOW).new_session()
    offered = chat.respond("who do you know?")
    assert offered.faces, offered.text  # unnamed groups of faces, numbered
    biggest = max(
        real_library.people.everyone(), key=lambda p: p.photo_count if p.name is None else -1
    )
    number = next(f.number for f in offered.faces if f.person_id == biggest.id)
    named = chat.respond(f"person {number} is Zed")
    assert "**Zed**" in named.text and named.people_changed
    found = chat.respond("photos of Zed")
    assert found.query.people_all == ("Zed",)
    assert len(found.photos) == biggest.photo_count
    who = chat.respond("who is in photo 1?")
    assert "Zed" in who.text


def test_text_search_on_a_real_library_returns_numbered_photos(real_library):
    chat = Assistant(real_library, now=NOW).new_session()
    reply = chat.respond("a dog on the grass")  # random weights: plumbing only, no meaning
    assert reply.intent == "search"
    assert reply.photos, reply.text  # too few photos to judge a match poor: some are shown
    assert [p.number for p in reply.photos] == list(range(1, len(reply.photos) + 1))
    assert all(Path(p.image).exists() for p in reply.photos)
