""" "Show me duplicates" in the chat: the groups in words and their photos in the gallery."""

from __future__ import annotations

from pathlib import Path

from assistant.conversation import Assistant
from index.library import Library
from index.settings import Settings
from tests.test_duplicates import write_library


def test_show_me_duplicates_in_the_chat_lists_the_groups_with_their_photos(
    tmp_path, tiny_clip_spec
):
    lib = Library(tmp_path / "data", clip=tiny_clip_spec, settings=Settings(), faces=False)
    lib.index(write_library(tmp_path / "photos"))
    chat = Assistant(lib).new_session()
    reply = chat.respond("show me duplicates")
    assert reply.intent == "duplicates"
    assert "1 group of duplicates" in reply.text and "Nothing was deleted" in reply.text
    assert [p.caption for p in reply.photos] == [
        "1. group 1 · keep",
        "2. group 1 · copy",
        "3. group 1 · copy",
    ]
    assert all(p.image and Path(p.image).exists() for p in reply.photos)
    # Each tile knows its photo's own file, as a search's tiles do (app.py chat --json lists it).
    library_files = {str(f.resolve()) for f in (tmp_path / "photos").rglob("*") if f.is_file()}
    assert {p.path for p in reply.photos} <= library_files
    assert chat.respond("delete Bob").intent != "duplicates"  # other intents still theirs
