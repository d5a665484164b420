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


def _name_char(c: str) -> bool:
    """Letters of any script (with their accents), spaces, apostrophes, hyphens, periods."""
    return unicodedata.category(c)[0] in "LM" or c in " '’‘-‐.·"
