"""The working state of one parse: the tokens, which step has claimed each, and the names found.

Every parser step (dates, limit, names, places, quoted text, ...) reads a `Parse`, claims the
tokens it understood, and leaves the rest; what nobody claims is the description for CLIP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from assistant.query.lexicon import Phrases

PERSON, PLACE = "person", "place"


@dataclass
class Mention:
    """A person name in the query: an enrolled person (`name`) or not (`name` is None)."""

    start: int
    end: int
    name: str | None
    text: str
    role: str = "all"  # all / any / none
    choices: tuple[str, ...] = ()  # a part of a name several people share: who they are


@dataclass(frozen=True)
class Known:
    """The enrolled people's names and aliases and the library's places, ready to match."""

    matcher: object  # spaCy PhraseMatcher on LOWER; its match keys are lower-case names
    table: Mapping[str, list[tuple[str, str]]]  # lower-case name -> [(kind, canonical)]
    singles: Mapping[str, list[tuple[str, str]]]  # one-word person names, for typos
    people: frozenset[str]  # every lower-case name or alias of a person
    parts: frozenset[str] = frozenset()  # lower-case parts of full names ("martin")


@dataclass
class Parse:
    """Working state of one parse: which token each step has claimed, and for what."""

    doc: object
    tokens: list[str]  # the query's tokens, lower case
    known: Known
    claims: list[str | None] = field(default_factory=list)

    def __post_init__(self):
        self.claims = [None] * len(self.tokens)

    def free(self, start: int, end: int) -> bool:
        """True when no step has claimed any token in [start, end)."""
        return all(c is None for c in self.claims[start:end])

    def claim(self, start: int, end: int, what: str) -> None:
        """Mark [start, end) as used by `what`, so it leaves the descriptive text."""
        for k in range(start, end):
            self.claims[k] = what

    def absorb_before(self, start: int, phrases: Phrases, what: str = "join") -> int:
        """Claim the run of joining words right before `start` ("with", "in the"); new start."""
        while True:
            n = phrases.before(self.tokens, start)
            if not n or not self.free(start - n, start):
                return start
            self.claim(start - n, start, what)
            start -= n

    def first_content(self) -> int:
        """Index of the first token no step claimed and that is not punctuation."""
        for k, tok in enumerate(self.doc):
            if self.claims[k] is None and not tok.is_punct:
                return k
        return len(self.tokens)
