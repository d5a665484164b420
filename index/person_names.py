"""What a person's name may be, and how people nobody has named are labelled ("person 7").

The one place both rules live: the catalog stores only names `clean_name` accepts, and a
"person 7" label is never a name (it always means the unnamed cluster 7).
"""

from __future__ import annotations

import re
import unicodedata

from index.errors import InvalidInput

# How an unnamed cluster is labelled and referred to: "person 7" (also "Person #7", "person7").
# The one pattern for that label; `fullmatch` it against a whole name.
PERSON_LABEL = re.compile(r"person\s*#?\s*(\d+)", re.IGNORECASE)
MAX_NAME = 60
# Characters that draw nothing although Unicode files some of them as letters (Hangul
# fillers) or marks (variation selectors): a name made of them looks empty or like another.
INVISIBLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x3164, 0xFFA0]
    + list(range(0xFE00, 0xFE10))
    + list(range(0xE0100, 0xE01F0))
)
# Letters of other scripts drawn like Latin ones (the common part of Unicode's confusables):
# "Jое" with a Cyrillic о and е reads as "Joe".
_LATIN_LOOKS = str.maketrans(
    "АВЕЅІЈКМНОРСТХУаеіјорсхуѕԁԛԝһԍΑΒΕΖΗΙΚΜΝΟΡΤΥΧοιν",
    "ABESIJKMHOPCTXYaeijopcxysdqwhGABEZHIKMNOPTYXoiv",
)


def person_label(person_id: int) -> str:
    """The label of an unnamed cluster, as shown and as accepted back: "person 7"."""
    return f"person {person_id}"


def labelled_person(text: str) -> int | None:
    """The person id a "person 7" label names, or None when `text` is not such a label."""
    m = PERSON_LABEL.fullmatch(" ".join(str(text).split()))
    return int(m.group(1)) if m else None


def shorten(text: str, limit: int = MAX_NAME) -> str:
    """Text as it may be quoted back to the user: at most `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_name(name: str) -> str:
    """A person's name as stored: trimmed, inner spaces collapsed; refuses unusable names."""
    if not isinstance(name, str):
        raise InvalidInput("A name must be text.")
    text = unicodedata.normalize("NFC", name).strip()
    if not text:
        raise InvalidInput("A name cannot be empty.")
    # Checked before spaces are collapsed: a tab or line break inside a name is a mistake.
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise InvalidInput(
            "A name cannot contain control characters (tabs, line breaks, escapes) or bytes "
            "that are not text."
        )
    hidden = [c for c in text if ord(c) in INVISIBLE]
    if hidden:
        raise InvalidInput(
            f"A name cannot contain invisible characters (this one has "
            f"U+{ord(hidden[0]):04X} {unicodedata.name(hidden[0], 'an invisible character')})."
        )
    text = " ".join(text.split())
    if len(text) > MAX_NAME:
        raise InvalidInput(f"That name is too long ({MAX_NAME} at most).")
    if labelled_person(text) is not None:
        raise InvalidInput(f'"{text}" is how unnamed people are labelled; choose a real name.')
    bad = [c for c in text if not _name_char(c)]
    if bad:
        raise InvalidInput(
            f'"{text}" cannot be a name: "{bad[0]}" is not allowed (names are letters of any '
            "script, spaces, apostrophes, hyphens and periods)."
        )
    if not any(unicodedata.category(c).startswith("L") for c in text):
        raise InvalidInput(f'"{text}" cannot be a name: a name needs letters.')
    return text


def lookalike(name: str, existing: list[str]) -> str | None:
    """The existing name that `name` only imitates with letters of another script, if any."""
    mine = _scripts(name)
    shape = _skeleton(name)
    for other in existing:
        same_look = other.casefold() != name.casefold() and _skeleton(other) == shape
        if same_look and _scripts(other) != mine:
            return other
    return None


def refuse_lookalike(name: str, existing: list[str]) -> None:
    """InvalidInput when `name` reads as an existing name but is spelled in another script."""
    other = lookalike(name, existing)
    if other is None:
        return
    foreign = next(c for c in name if _skeleton(c) != c.casefold() or _scripts(c) - _scripts(other))
    script = unicodedata.name(foreign, "another").split(" ")[0].title()
    raise InvalidInput(
        f'"{name}" looks just like "{other}" but is written with {script} letters (such as '
        f'"{foreign}", U+{ord(foreign):04X}). Use "{other}" itself, or a name that looks different.'
    )


def _skeleton(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_LATIN_LOOKS).casefold()


def _scripts(text: str) -> set[str]:
    return {
        unicodedata.name(c, "?").split(" ")[0] for c in text if unicodedata.category(c)[0] == "L"
    }


def _name_char(c: str) -> bool:
    """Letters of any script (with their accents), spaces, apostrophes, hyphens, periods."""
    return unicodedata.category(c)[0] in "LM" or c in " '’‘-‐.·"
