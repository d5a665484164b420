"""The first description search downloads CLIP with progress the chat can show. Offline here,
so the hub call is replaced by a stand-in that streams bytes through the tqdm class it gets."""

from __future__ import annotations

import pytest

import index.download as download
from index.download import reporting_tqdm
from index.models import ClipModel


def test_progress_reaches_the_callback_once_per_percent_with_bytes_and_size():
    heard = []
    bar_class = reporting_tqdm(lambda done, total, name: heard.append((done, total, name)))
    bar = bar_class(total=1000, desc="open_clip_model.safetensors", unit="B", disable=True)
    for _ in range(100):
        bar.update(10)
    bar.close()
    assert heard[0] == (10, 1000, "open_clip_model.safetensors")
    assert heard[-1] == (1000, 1000, "open_clip_model.safetensors")
    assert len(heard) == 100  # one report per percent, even with bars switched off


def test_fetch_hands_the_reporting_bar_to_the_hub_and_falls_back_to_the_next_name(monkeypatch):
    from huggingface_hub.errors import EntryNotFoundError

    calls = []

    def fake_download(repo, name, tqdm_class):
        calls.append(name)
        if name.endswith(".safetensors"):
            raise EntryNotFoundError("no safetensors twin")
        bar = tqdm_class(total=4 << 20, desc=name, disable=True)
        for _ in range(4):
            bar.update(1 << 20)
        return f"/cache/{repo}/{name}"

    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    heard = []
    paths = download.fetch(
        "org/model",
        [["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]],
        lambda done, total, name: heard.append((done, total)),
    )
    assert paths == ["/cache/org/model/open_clip_pytorch_model.bin"]
    assert calls == ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
    assert heard[-1] == (4 << 20, 4 << 20)


def test_a_local_model_folder_downloads_nothing(tiny_clip_spec, monkeypatch):
    monkeypatch.setattr(download, "fetch", lambda *a: pytest.fail("nothing to download"))
    model = ClipModel(tiny_clip_spec)
    model.download(lambda *a: pytest.fail("no progress expected"))
    assert model.is_available()


def test_offline_a_hub_model_is_not_fetched_and_loading_says_why(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(download, "fetch", lambda *a: pytest.fail("offline: no download"))
    model = ClipModel("ViT-B-32/laion2b_s34b_b79k")
    model.download(lambda *a: None)
    assert not model.is_available() and "offline" in model.load_error
