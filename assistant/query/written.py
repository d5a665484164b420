"""Words written in the photo: "quoted text", and what follows "that says", "with the words".

A parser step (see state.py): it runs before dates and names, so "2019" inside quotes is
text on a sign, not a year, and "RODEO" is not taken for a person's name. What it claims
leaves the description; the rest of the query ("a sign", "in 2019", "Alice") is read by the
other steps as usual.
"""

from __future__ import annotations

from assistant.query.lexicon import Lexicon
from assistant.query.state import Parse

QUOTE = '"'  # curly quotes were straightened before parsing


def read_written(st: Parse, lex: Lexicon) -> tuple[str, ...]:
    """The phrases the photo must show, in order; their tokens (and "that says") claimed."""
    found: list[tuple[int, str]] = []
    _read_quoted(st, found)
    _read_said(st, lex, found)
    found.sort()
    return tuple(dict.fromkeys(text for _, text in found if text))


def _read_quoted(st: Parse, found: list[tuple[int, str]]) -> None:
    """ "…" pairs; a quote left open runs to the end of the query."""
    quotes = [k for k, tok in enumerate(st.doc) if QUOTE in tok.text and st.claims[k] is None]
    for a, b in zip(quotes[::2], [*quotes[1::2], None], strict=False):
        end = len(st.tokens) if b is None else b + 1
        inner_end = end if b is None else b
        text = _span_text(st, a + 1, inner_end) if inner_end > a + 1 else ""
        text = text or st.doc[a].text.replace(QUOTE, "").strip()  # "IPA" as one token
        st.claim(a, end, "written")
        found.append((a, text))


def _read_said(st: Parse, lex: Lexicon, found: list[tuple[int, str]]) -> None:
    """ "that says open late": the words after the phrase, up to a stop word or punctuation."""
    w = st.tokens
    for i in range(len(w)):
        n = lex.says.at(w, i)
        if not n or not st.free(i, i + n) or not _after_a_thing(st, i):
            continue
        end = i + n
        while end < len(w) and st.claims[end] is None:
            tok = st.doc[end]
            if tok.is_punct or (end > i + n and w[end] in lex.says_stop):
                break
            end += 1
        if end > i + n:
            found.append((i, _span_text(st, i + n, end)))
            st.claim(i, end, "written")
        elif end < len(w) and st.claims[end] == "written":
            st.claim(i, end, "written")  # 'that says "OPEN"': the quote was read already


def _after_a_thing(st: Parse, i: int) -> bool:
    """Whether a noun comes just before: "a sign saying …", not "saying grace before dinner".
    Without a tagger (the blank spaCy fallback), any word before will do."""
    if i == 0 or st.doc[i - 1].is_punct:
        return False
    pos = st.doc[i - 1].pos_
    return not pos or pos in ("NOUN", "PROPN", "PRON")


def _span_text(st: Parse, start: int, end: int) -> str:
    """The words of tokens [start, end) as typed, spaces kept."""
    doc = st.doc
    return "".join(doc[k].text + doc[k].whitespace_ for k in range(start, end)).strip(' "')
