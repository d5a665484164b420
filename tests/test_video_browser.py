"""A video in the chat, in a real browser (Debian chromium driven by Playwright): its tile
shows the matching moment with a play mark and the time; a click plays it from that second
in the larger view."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.test_ui_browser import CHROMIUM, LAUNCH_ARGS, launch_page, send
from tests.video_files import write_video

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DEMO = Path(__file__).resolve().parents[1] / "demo" / "photos"
SCENES = ["craft-beer.jpg", "japanese-shop.jpg", "el_torcal_rocks.jpg"]


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_clip_spec):
    """The real page over a real library: a 9 s video of three scenes and two photos."""
    from index.library import Library
    from index.settings import Settings

    root = tmp_path_factory.mktemp("video_library")
    photos = root / "photos"
    scenes = [Image.open(DEMO / n).convert("RGB") for n in SCENES]
    write_video(photos / "trip.mp4", scenes, seconds_each=3.0)
    for i, name in enumerate(("book-beside-flowers.jpg", "cyclamen_persicum.jpg")):
        shutil.copy(DEMO / name, photos / f"photo{i}.jpg")
    frame = root / "frame.png"
    scenes[2].resize((320, 240)).save(frame)
    lib = Library(root / "data", clip=tiny_clip_spec, settings=Settings(), faces=False)
    lib.index(photos)
    demo, url = launch_page(lib, [photos, root / "data"])
    yield url, frame
    demo.close()
    lib.close()


def test_a_video_tile_plays_from_the_matching_second(served):
    from playwright.sync_api import sync_playwright

    url, frame = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url)
        page.wait_for_selector("#pir-input textarea")
        page.locator("#pir-input input[type=file]").set_input_files(str(frame))
        page.wait_for_timeout(1000)
        send(page, "find photos like this")
        tile = page.locator("#pir-chat .bot-row").last.locator(".pir-tile").first
        tile.wait_for(timeout=20_000)
        mark = tile.locator(".pir-play").inner_text()
        assert mark.startswith("▶ 0:0")
        second = int(mark.split(":")[1])
        assert 6 <= second <= 8  # the third scene starts at 6 s
        tile.click()
        page.wait_for_selector("#pir-clip video", timeout=20_000)
        page.wait_for_function(
            "() => document.querySelector('#pir-clip video').readyState >= 1", timeout=20_000
        )
        src = page.locator("#pir-clip video").get_attribute("src")
        assert "trip.mp4" in src and f"#t={second}" in src
        at = page.evaluate("() => document.querySelector('#pir-clip video').currentTime")
        assert second - 0.5 <= at <= second + 3.5  # playing from the moment, not from 0
        browser.close()
