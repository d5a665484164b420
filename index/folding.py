"""Words read in photos, made searchable: one folding for the stored text and the query.

What OCR reads is noisy in predictable ways, so both sides of a match go through `fold`:
- case and accents do not matter ("Café" = "CAFE");
- look-alike characters are one letter: 0/o, 1/l/i/|, 5/s, 8/b, 2/z, and "rn"/"m", "vv"/"w"
  ("C0KE" finds "COKE", "lPA" finds "IPA");
- Chinese, Japanese and Korean characters are separate tokens, so a phrase of them is
  found inside a longer run ("一番" in "一番搾り").
Folding loses the difference between "10" and "lo": a word search may find a few more
photos, never fewer. Results show the text as it was read, not folded.
"""

from __future__ import annotations

import re
import unicodedata

# Applied after lower-casing and removing accents; multi-letter confusions first.
_CONFUSIONS = (("rn", "m"), ("vv", "w"))
_LOOKALIKES = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l", "!": "l", "5": "s",
                             "8": "b", "2": "z"})  # fmt: skip
# Han, Hiragana, Katakana, Hangul: scripts written without spaces between words.
_CJK = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff])")
_NOT_WORD = re.compile(r"\W+")


def fold(text: str) -> str:
    """Text as it is stored and matched: lower case, no accents, look-alikes merged, tokens
    separated by single spaces."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("ß", "ss").replace("ø", "o").replace("ł", "l").replace("æ", "ae")
    for a, b in _CONFUSIONS:
        text = text.replace(a, b)
    text = text.translate(_LOOKALIKES)
    text = _CJK.sub(r" \1 ", text)
    return " ".join(t for t in _NOT_WORD.split(text.replace("_", " ")) if t)


def phrase_query(phrases: list[str] | tuple[str, ...]) -> str | None:
    """An FTS5 MATCH expression requiring every phrase, or None when no phrase has a word."""
    folded = [fold(p) for p in phrases]
    parts = [f'"{f}"' for f in folded if f]
    return " AND ".join(parts) if parts else None
