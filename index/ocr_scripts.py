"""Japanese read as Japanese: one recognizer for many scripts, decoded with the photo's alphabet.

PP-OCR's multilingual recognizer knows simplified Chinese, traditional Chinese and Japanese
characters in one alphabet, and where a Japanese character looks like a simplified Chinese one
it often picks the Chinese one: the shop sign 取扱店 is read 取报店 (报 is not a Japanese
character). So a line is also decoded from the same network output with the Han characters
limited to those Japanese writes: Shift-JIS as Windows writes it (JIS X 0208 and the vendors'
kanji; not JIS X 0213, which takes in Chinese shapes such as 极); kana, Latin letters, digits
and signs untouched. A photo whose lines hold kana (`ocr_japanese_min_kana` or more)
is Japanese, and there the Japanese decoding of a line replaces the usual one where they
differ. Elsewhere (Chinese menus, Latin signs) nothing changes. The second decoding costs no
second pass of the network, only a second look at its output, and only for lines holding a
Han character Japanese does not write.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import numpy as np

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")
_KANA = re.compile(r"[\u3041-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9d]")


class Reading(NamedTuple):
    """One line as the recognizer read it; `japanese`: the same line decoded with Japanese
    characters only, where that differs (else None)."""

    text: str
    confidence: float
    japanese: tuple[str, float] | None


def written_in_japanese(char: str) -> bool:
    """False only for a Han character Japanese does not write (e.g. simplified Chinese 报)."""
    if not _HAN.fullmatch(char):
        return True
    try:
        char.encode("cp932")
    except UnicodeEncodeError:
        return False
    return True


class ScriptDecoder:
    """Wraps a recognizer's CTC decoder (rapidocr's `CTCLabelDecode`: network output of shape
    (lines, steps, alphabet) -> [(text, confidence)]) to return `Reading`s."""

    def __init__(self, plain: Any):
        self.plain = plain
        characters = list(plain.character)
        self.japanese = np.array([written_in_japanese(c) for c in characters], dtype=np.float32)

    def __call__(self, preds: np.ndarray, *args: Any, **kwargs: Any) -> list[Reading]:
        readings = []
        for i, (text, confidence) in enumerate(self.plain(preds, *args, **kwargs)):
            japanese = None
            if not all(written_in_japanese(c) for c in text):
                # The output is a probability per character: masking keeps each one's own.
                only = self.plain(preds[i : i + 1] * self.japanese, *args, **kwargs)[0]
                japanese = (str(only[0]), float(only[1]))
            readings.append(Reading(str(text), float(confidence), japanese))
        return readings


def kana_count(texts: list[str]) -> int:
    """How many hiragana and katakana characters these texts hold."""
    return sum(len(_KANA.findall(t)) for t in texts)


def in_the_photos_script(
    readings: list[Reading], min_kana: int, min_confidence: float
) -> list[tuple[str, float]]:
    """(text, confidence) of each line: the Japanese decoding where the photo reads as
    Japanese (at least `min_kana` kana in its lines read with `min_confidence`), the usual
    one elsewhere."""
    sure = [r.text for r in readings if r.confidence >= min_confidence]
    japanese = kana_count(sure) >= min_kana
    return [
        r.japanese if japanese and r.japanese is not None else (r.text, r.confidence)
        for r in readings
    ]
