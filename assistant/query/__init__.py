"""Plain English -> `Query`. The front door is `QueryParser`; the rooms, in reading order:

- `lexicon.py`  the words the parser knows (prompts/parser.toml) and the spaCy pipeline
- `state.py`    one parse's tokens and which step has claimed each
- `dates.py`    date expressions -> a time span ("summer 2019", "last year")
- `names.py`    enrolled and unknown names, places, and "and / or / without / only"
- `parser.py`   `QueryParser`: runs the steps in order; the unclaimed rest goes to CLIP

A new kind of phrase (e.g. quoted text) is one more step: a function that reads a
`state.Parse`, claims its tokens, and returns what it found; `QueryParser.parse` calls it.
"""

from assistant.query.dates import DISTANT_FUTURE, DISTANT_PAST
from assistant.query.parser import QueryParser, parse_query

__all__ = ["DISTANT_FUTURE", "DISTANT_PAST", "QueryParser", "parse_query"]
