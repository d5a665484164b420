"""Names that would fool a reader are refused with the real reason: invisible characters,
a look-alike of someone's name spelled in another script, a digit inside a name."""

from __future__ import annotations

import pytest
from photo_files import noise_photo

from assistant.conversation import Assistant
from index.errors import InvalidInput
from index.library import Library


@pytest.fixture
def lib(tmp_path, tiny_clip_spec):
    library = Library(tmp_path / "data", clip=tiny_clip_spec, faces=False)
    with library.catalog.transaction():
        library.catalog.add_person("Joe")
        library.unnamed_id = library.catalog.add_person(None)  # a group nobody named yet
    yield library
    library.close()


def unnamed(lib: Library) -> int:
    return lib.unnamed_id


@pytest.mark.parametrize("name", ["\u3164", "Ann\u3164", "Bo\ufe0fb", "\u115f\u1160"])
def test_invisible_characters_are_refused_and_named(lib, name):
    with pytest.raises(InvalidInput, match=r"invisible characters .*U\+[0-9A-F]{4}"):
        lib.people.name_person(unnamed(lib), name)


@pytest.mark.parametrize("name", ["Jое", "Јое", "JOЕ"])  # Cyrillic о, е, Ј
def test_a_look_alike_of_an_existing_name_in_another_script_is_refused(lib, name):
    with pytest.raises(InvalidInput, match='looks just like "Joe" but is written with Cyrillic'):
        lib.people.name_person(unnamed(lib), name)
    lib.people.name_person(unnamed(lib), "Ann")
    for edit in (lambda: lib.people.rename("Ann", name), lambda: lib.people.add_alias("Ann", name)):
        with pytest.raises(InvalidInput, match='looks just like "Joe"'):
            edit()


def test_real_names_in_other_scripts_stay_welcome(lib):
    assert lib.people.name_person(unnamed(lib), "Жора").name == "Жора"
    lib.people.rename("Joe", "Zoë")
    assert {p["name"] for p in lib.catalog.people_summary()} == {"Жора", "Zoë"}


def test_a_digit_in_a_name_is_named_as_the_problem_in_the_chat(lib, tmp_path):
    noise_photo(tmp_path / "photos" / "one.jpg")
    lib.index(tmp_path / "photos")
    chat = Assistant(lib).new_session()
    answer = chat.respond("rename Joe to S1 NA").text
    assert '"1" is not allowed' in answer and "need letters" not in answer
