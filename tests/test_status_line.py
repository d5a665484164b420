"""The page's status line says what runs now, and clears when it is over: through the first
index, the words in photos, watching, a new photo, and watching again."""

from __future__ import annotations

import threading
import time

import pytest
from photo_files import noise_photo

from assistant.conversation import Assistant
from assistant.server import index_in_background
from index.library import Library
from index.settings import Settings

pytestmark = pytest.mark.slow


def eventually(check, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, f"still not true after {timeout:.0f} s"
        time.sleep(0.05)


class Recorder:
    """Every (indexing, status) the assistant goes through, polled often."""

    def __init__(self, assistant: Assistant):
        self.assistant, self.seen = assistant, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            now = (self.assistant.indexing, self.assistant.status)
            if not self.seen or self.seen[-1] != now:
                self.seen.append(now)
            time.sleep(0.002)

    def said(self, text: str, since: int = 0) -> bool:
        return any(text in status for _, status in self.seen[since:])


def idle_and_watching(assistant: Assistant) -> bool:
    return not assistant.indexing and assistant.status.startswith("Watching")


def test_the_status_line_clears_after_the_words_stage_and_after_watched_changes(
    tmp_path, tiny_clip_spec
):
    folder = tmp_path / "photos"
    noise_photo(folder / "first.jpg", seed=1)
    settings = Settings(watch_quiet_s=0.3, ocr=True)
    lib = Library(tmp_path / "data", clip=tiny_clip_spec, settings=settings, faces=False)
    assistant = Assistant(lib)
    seen = Recorder(assistant)
    try:
        index_in_background(assistant, folder, None, faces=False)
        eventually(lambda: seen.said("reading words in photos") and idle_and_watching(assistant))
        mark = len(seen.seen)
        noise_photo(tmp_path / "new.jpg", seed=2)
        (tmp_path / "new.jpg").rename(folder / "new.jpg")
        eventually(lambda: seen.said("reading words in photos", since=mark))
        eventually(lambda: idle_and_watching(assistant))
        time.sleep(1.5)  # nothing else is coming: the line must stay settled
        assert idle_and_watching(assistant), seen.seen[mark:]
        assert "Last change at" in assistant.status and "1 new" in assistant.status
        assert "Indexing your photos" not in assistant.library_note()
    finally:
        seen.stop.set()
        lib.close()


def test_the_status_line_says_a_damaged_people_json_was_kept_aside(tmp_path, tiny_clip_spec):
    folder = tmp_path / "photos"
    noise_photo(folder / "first.jpg", seed=1)
    data = tmp_path / "data"
    data.mkdir()
    (data / "people.json").write_text('{"format": "personal-image-retriever/people", "peo')
    lib = Library(data, clip=tiny_clip_spec, faces=False, ocr=False, rebuild=True)
    assistant = Assistant(lib)
    seen = Recorder(assistant)
    try:
        index_in_background(assistant, folder, None, faces=False, watch=False)
        eventually(lambda: seen.said("people.json was damaged: it is cut short"))
        assert seen.said("It was kept unchanged as " + str(data / "people.json.damaged-"))
    finally:
        seen.stop.set()
        lib.close()
