"""The words stage: the text written in each photo, read by OCR (index/ocr.py) and stored
for search (FTS5, index/catalog/word_queries.py).

It runs in a pass of its own after CLIP and faces (`Library.sync`), so a folder can be
searched by description, people, dates and places before its words are read; a photo whose
words this reader has read is not read again (see index/stage.py for the contract). A
video's words are read in each of its distinct moments (`videos.distinct`), not only its
poster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from index import videos
from index.catalog import Catalog
from index.folding import fold
from index.ocr import TextLine, TextReader
from index.scan import Decoded
from index.settings import Settings
from index.stage import Run


@dataclass
class WordsReport:
    """What one pass of the words stage did."""

    read: int = 0  # photos read this pass
    with_text: int = 0  # ... of which some text was found in
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def to_json(self) -> dict:
        """The report as JSON-ready data."""
        return {
            "read": self.read,
            "with_text": self.with_text,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
        }


class WordsStage:
    """Reads the words of every photo this reader has not read yet; stores them."""

    name = "words"
    doing = "reading words in photos"
    uses_worker_cores = False

    def __init__(self, reader: TextReader, settings: Settings):
        self.reader = reader
        self.settings = settings
        self.decode_size = settings.ocr_image_size

    def begin(self, catalog: Catalog, run: Run) -> set[int] | None:
        """The photos under the folder whose words this reader has not read."""
        return {r["id"] for r in catalog.photos_without_text(self.reader.model_id, run.root)}

    def analyze(self, decoded: Decoded) -> tuple[str, list[TextLine]]:
        """(photo hash, its lines of text), read in a decode worker. A video's are those of
        its distinct moments (`videos.distinct`), each line with the `time_s` it was read
        at, a line read again later kept once. The decode workers read photos side by side
        (the reader lends each its own copy of the models, `ocr_readers`)."""
        if not decoded.frames:
            return decoded.hash, self.reader.read(decoded.image, decoded.scale)
        lines: dict[str, TextLine] = {}
        for k in videos.distinct(decoded.frames, self.settings.video_words_change):
            m = decoded.frames[k]
            scale = max(decoded.width, decoded.height) / max(m.image.size)
            for line in self.reader.read(m.image, scale):
                lines.setdefault(fold(line["text"]), {**line, "time_s": m.time_s})
        return decoded.hash, list(lines.values())

    def batch(self, analysed: list[Any]) -> list[Any]:
        """Nothing more to do for the whole batch: each photo was read in a worker."""
        return analysed

    def write(self, catalog: Catalog, photo_id: int, result: tuple[str, list[TextLine]]) -> bool:
        """Store one photo's lines and its searchable folded text; whether it has any.

        Nothing is written when the photo's content changed since it was decoded."""
        digest, lines = result
        folded = fold("\n".join(line["text"] for line in lines))
        catalog.put_text(photo_id, digest, self.reader.model_id, lines, folded)
        return bool(lines)

    def after_batch(self, catalog: Catalog, photo_ids: list[int]) -> None:
        """Nothing to finish: each photo's words are searchable once written."""

    def end(self, catalog: Catalog, run: Run) -> None:
        """Nothing waits for the end."""
