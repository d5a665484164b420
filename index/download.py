"""Fetching model weights from the Hugging Face hub with progress someone can watch.

The first description search on a new machine downloads ~600 MB of CLIP weights. Loading
through open_clip would do that silently (a frozen chat turn), so the files are fetched
first with `hf_hub_download`, whose progress bar class is replaced by one that reports
(bytes done, bytes in all, file name) to a callback; the chat turns that into "Downloading
the image model: 120 of 605 MB (20 %)". Reports come at most once per percent.
"""

from __future__ import annotations

from collections.abc import Callable

# bytes done, bytes in all (0 when unknown), file name
DownloadProgress = Callable[[int, int, str], None]


def reporting_tqdm(report: DownloadProgress) -> type:
    """A tqdm class that hands its progress to `report` (also when bars are switched off)."""
    from tqdm.auto import tqdm

    class Reporting(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._done = int(kwargs.get("initial") or 0)
            self._size = int(kwargs.get("total") or 0)
            self._name = str(kwargs.get("desc") or "")
            self._said = -1

        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            self._done += int(n or 0)
            percent = self._done * 100 // self._size if self._size else self._done >> 20
            if percent != self._said:  # once per percent (per MB when the size is unknown)
                self._said = percent
                report(self._done, self._size, self._name)
            return shown

    return Reporting


def fetch(repo: str, choices: list[list[str]], report: DownloadProgress) -> list[str]:
    """Download one file of each group of `choices` (the first the repo has) into the hub
    cache, reporting progress; returns the local paths. Files already cached cost nothing."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    tqdm_class = reporting_tqdm(report)
    paths = []
    for names in choices:
        for k, name in enumerate(names):
            try:
                paths.append(hf_hub_download(repo, name, tqdm_class=tqdm_class))
                break
            except EntryNotFoundError:
                if k == len(names) - 1:
                    raise
    return paths
