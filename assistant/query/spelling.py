"""Misspelt command words put right before a message is matched: "who do you knwo?",
"phtos of Bob", "renmae Bob to Rob".

Only a word that no dictionary holds and that is no known name (nor part, nor alias of
one) is changed, and only to a command word of prompts/intents.toml [spelling] one or two
letters away (scaled to the word's length), when exactly one is that close.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from rapidfuzz.distance import OSA

_WORD = re.compile(r"\b[^\W\d_]+(?:'[^\W\d_]+)?\b")
_QUOTED = re.compile(r"(\"[^\"]*\"|“[^”]*”)")


class Speller:
    """Puts misspelt command words right; built once from the word lists."""

    def __init__(
        self,
        words: Collection[str],
        fixed: Mapping[str, str],
        dictionary: Collection[str],
        min_len: int = 4,
        two_len: int = 7,
    ):
        self.words = frozenset(w.lower() for w in words)
        self.fixed = {k.lower(): v for k, v in fixed.items()}
        self.dictionary = dictionary
        self.min_len = min_len  # shorter words are never changed (too many near misses)
        self.two_len = two_len  # words this long may be two letters off

    def fix(self, text: str, names: Collection[str] = ()) -> str:
        """`text` with each misspelt command word replaced; names (lower case) are kept, and
        so are quoted words and a capitalised word after the first (an unknown name, perhaps:
        "photos of Moore" is no "more")."""

        def one(m: re.Match[str]) -> str:
            word = m.group(0)
            low = word.lower()
            if m.start() > 0 and word[:1].isupper() and not word.isupper():
                return word
            if low in self.fixed:
                return self.fixed[low]
            if low in self.words or low in names or len(low) < self.min_len:
                return word
            if low in self.dictionary:
                return word
            limit = 2 if len(low) >= self.two_len else 1
            close = [w for w in self.words if OSA.distance(low, w, score_cutoff=limit) <= limit]
            return close[0] if len(close) == 1 else word

        parts = _QUOTED.split(text)
        return "".join(p if k % 2 else _WORD.sub(one, p) for k, p in enumerate(parts))


def speller(spelling: Mapping, engine) -> Speller:
    """The speller of prompts/intents.toml [spelling], with spaCy's English words (its
    dictionary, its stop words and the parser's own words) as words never changed."""
    lex = engine.lex
    stop = getattr(engine.nlp.Defaults, "stop_words", set())
    dictionary = frozenset(lex.english | lex.all_words | set(stop))
    return Speller(spelling["words"], spelling["fixed"], dictionary)
