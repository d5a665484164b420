"""The chat page in a real browser: Debian chromium driven by Playwright.

A query shows a numbered photo grid inside the chat, clicking a photo shows its details, naming
a person in the chat changes the next search, and two browsers never see each other's chat.
A screenshot of the conversation is saved to test-artifacts/.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
    pytest.skip(
        "Debian chromium is not installed (apt-get install -y chromium)", allow_module_level=True
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_page(library, allowed: list[Path]):
    """The chat page over `library` on a free local port: (the Gradio app, its address)."""
    from assistant.conversation import Assistant
    from assistant.ui import CSS, build_ui

    demo = build_ui(Assistant(library))
    demo.queue()
    port = free_port()
    demo.launch(
        server_port=port,
        prevent_thread_lock=True,
        allowed_paths=[str(p) for p in allowed],
        quiet=True,
        css=CSS,
    )
    return demo, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real page over a small library double whose photos and face crops are real JPEGs."""
    from PIL import Image
    from test_conversation import FakeLibrary

    folder = tmp_path_factory.mktemp("library")
    lib = FakeLibrary(folder)
    for i, photo in enumerate(lib.photos):
        Image.new("RGB", (96, 64), (40 * i, 120, 200)).save(photo["path"], "JPEG")
    crops = {}
    for pid in lib.people_by_id:
        crops[pid] = folder / f"crop{pid}.jpg"
        Image.new("RGB", (32, 32), (200, 60 * pid, 0)).save(crops[pid], "JPEG")
    plain_people = lib.people.everyone
    lib.people.everyone = lambda: [
        type(p)(p.id, p.name, p.label, p.photo_count, p.face_count, str(crops[p.id]), p.aliases)
        for p in plain_people()
    ]
    demo, url = launch_page(lib, [folder])
    yield url, lib
    demo.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


def send(page, text: str) -> None:
    """Type a message, send it, and wait until the assistant has answered it."""
    before = page.locator("#pir-chat .message-row.user-row").count()
    page.locator("#pir-input textarea").fill(text)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('#pir-chat .message-row.user-row').length > n",
        arg=before,
        timeout=20_000,
    )
    page.wait_for_selector("#pir-chat .pending", state="detached", timeout=20_000)
    page.wait_for_timeout(300)


def last_gallery_images(page):
    """The pictures of the grid in the assistant's latest answer."""
    return page.locator("#pir-chat .bot-row").last.locator(".pir-tile img")


def test_search_gallery_click_and_naming_in_the_browser(server, browser):
    url, lib = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.wait_for_selector("#pir-input textarea")

    send(page, "photos of Alice")
    images = last_gallery_images(page)
    images.first.wait_for(timeout=20_000)
    assert images.count() == 2
    captions = page.locator("#pir-chat .bot-row").last.locator(".pir-tile span").all_inner_texts()
    assert captions[0].startswith("1.") and captions[1].startswith("2.")

    last_gallery_images(page).first.click()  # a photo in the chat answer
    page.wait_for_function(
        "() => document.querySelector('#pir-info').innerText.includes('Photo 1')", timeout=10_000
    )
    assert "Why it matched" in page.locator("#pir-info").inner_text()

    send(page, "photos of Carol")
    faces = last_gallery_images(page)
    faces.first.wait_for(timeout=20_000)
    assert faces.count() == 2
    assert "don't know Carol yet" in page.locator("#pir-chat").inner_text()

    send(page, "person 1 is Carol")
    images = last_gallery_images(page)
    images.first.wait_for(timeout=20_000)
    assert images.count() == 2  # the pending search ran with the new name
    assert ("name_person", 3, "Carol") in lib.calls

    send(page, "photos of Carol in 2021")
    assert last_gallery_images(page).count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat_conversation.png"), full_page=True)
    page.close()


def test_two_browser_sessions_do_not_see_each_others_chat(server, browser):
    url, _lib = server
    one, two = browser.new_context(), browser.new_context()
    a, b = one.new_page(), two.new_page()
    a.goto(url)
    b.goto(url)
    a.wait_for_selector("#pir-input textarea")
    b.wait_for_selector("#pir-input textarea")
    send(a, "photos of Bob")
    send(b, "more")
    assert "photos of Bob" in a.locator("#pir-chat").inner_text()
    chat_b = b.locator("#pir-chat").inner_text()
    assert "photos of Bob" not in chat_b
    assert "no search to continue" in chat_b  # b's session has no search of its own
    one.close()
    two.close()


def test_clicking_a_photo_in_the_chat_shows_it_larger_with_every_named_person(server, browser):
    url, _lib = server
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(url)
    page.wait_for_selector("#pir-input textarea")
    send(page, "photos of Alice")
    last_gallery_images(page).first.wait_for(timeout=20_000)
    last_gallery_images(page).first.click()  # photo 1 shows Alice and Bob
    page.wait_for_function(
        "() => document.querySelector('#pir-info').innerText.includes('Photo 1')", timeout=10_000
    )
    info = page.locator("#pir-info").inner_text()
    assert "2019-07-01" in info and "Alice, Bob" in info and "Why it matched" in info
    assert page.locator("#pir-photo img").count() == 1
    # Nothing of the conversation is copied into the browser's storage (Gradio's run history).
    stored = page.evaluate("() => Object.keys(localStorage).filter(k => k.includes('history'))")
    assert stored == []
    page.close()


@pytest.mark.parametrize("width, height", [(1280, 1000), (390, 844)])
def test_every_photo_of_an_answer_is_fully_visible(server, browser, width, height):
    url, _lib = server
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_selector("#pir-input textarea")
    send(page, "photos from 2018 to 2022")
    tiles = page.locator("#pir-chat .bot-row").last.locator(".pir-tile")
    tiles.first.wait_for(timeout=20_000)
    chat = page.locator("#pir-chat").bounding_box()
    assert tiles.count() >= 3
    for k in range(tiles.count()):
        box = tiles.nth(k).bounding_box()
        assert box["width"] > 60, box  # a real thumbnail, not a sliver
        assert chat["x"] <= box["x"] and box["x"] + box["width"] <= chat["x"] + chat["width"]
        assert box["x"] + box["width"] <= width
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"chat_{width}x{height}.png"), full_page=True)
    page.close()


def test_typed_markup_is_shown_as_text_and_markup_names_are_refused(server, browser):
    url, lib = server
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(url)
    page.wait_for_selector("#pir-input textarea")
    send(page, "<b>bold</b> photos of <i>Alice</i>")
    chat = page.locator("#pir-chat")
    assert chat.locator("b, i").count() == 0
    assert "<b>bold</b>" in chat.inner_text()
    send(page, "photos of Alice")
    send(page, "photo 2 is <img src=//example.com/p.png>")
    assert page.locator("#pir-chat img[src*='example.com']").count() == 0
    assert not [c for c in lib.calls if c[0] == "name_face"]
    page.close()


def test_first_screen_suggestions_are_buttons_that_send_their_words(server, browser):
    url, _lib = server
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(url)
    buttons = page.locator("#pir-suggest button")
    buttons.first.wait_for(timeout=20_000)
    words = buttons.all_inner_texts()
    assert "photos of Alice" in words and "who do you know?" in words  # the library's own name
    assert any(w.startswith("photos from 20") for w in words)  # and one of its years
    page.locator("#pir-suggest button", has_text="photos of Alice").click()
    page.wait_for_selector("#pir-chat .message-row.user-row", timeout=20_000)
    page.wait_for_selector("#pir-chat .pending", state="detached", timeout=20_000)
    last_gallery_images(page).first.wait_for(timeout=20_000)
    assert last_gallery_images(page).count() == 2  # Alice's two photos
    page.close()


def test_people_panel_shows_whole_names_and_a_click_shows_that_persons_photos(server, browser):
    url, _lib = server
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(url)
    tiles = page.locator("#pir-people .thumbnail-item")
    tiles.first.wait_for(timeout=20_000)
    captions = page.locator("#pir-people .caption-label")
    for k in range(captions.count()):
        cut = captions.nth(k).evaluate("e => e.scrollWidth > e.clientWidth + 1")
        assert not cut, captions.nth(k).inner_text()
    assert "Bob" in captions.nth(1).inner_text()
    tiles.nth(1).click()  # Bob
    last_gallery_images(page).first.wait_for(timeout=20_000)
    assert last_gallery_images(page).count() == 2  # photos 1 and 4 show Bob
    assert "Bob" in page.locator("#pir-chat .bot-row").last.inner_text()
    page.close()


def test_a_refused_upload_does_not_send_the_message(server, browser, tmp_path):
    url, lib = server
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(url)
    page.wait_for_selector("#pir-input textarea")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    page.locator("#pir-input input[type=file]").set_input_files(str(notes))
    page.wait_for_function(
        "() => document.body.innerText.includes('Invalid file type')", timeout=10_000
    )
    page.locator("#pir-input textarea").fill("who is this?")
    page.keyboard.press("Enter")
    page.wait_for_timeout(1500)
    assert page.locator("#pir-chat .message-row.user-row").count() == 0  # nothing was sent
    assert page.locator("#pir-input textarea").input_value() == "who is this?"  # kept to edit
    page.close()
