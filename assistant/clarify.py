"""Asking before guessing about a name: "which Jones?" and "did you mean Alice Martin?".

A part of a name two people share asks which of them; a word close to a known name asks
whether that name was meant, before any offer to name a group of faces. "yes" to a single
suggestion runs the waiting search with the name put right (a `Confirm`).
"""

from __future__ import annotations

from collections.abc import Callable

from assistant.context import Confirm, Context
from assistant.query.names import close_names
from assistant.replies import Md, Reply, escape
from index.types import Query


def _names(ctx: Context, names: tuple[str, ...] | list[str]) -> Md:
    """ "**Carol Jones** or **Dave Jones**": names as the chat lists them."""
    bold = [f"**{escape(n)}**" for n in names]
    last = ctx.wording.say("clarify", "or")
    return Md(bold[0] if len(bold) == 1 else ", ".join(bold[:-1]) + f" {last} " + bold[-1])


def which_one(ctx: Context, query: Query) -> Reply:
    """ "photos of Jones" with two Joneses: ask which, naming both; nothing is searched."""
    word, choices = query.ambiguous[0]
    text = ctx.wording.say("clarify", "which", word=word, names=_names(ctx, choices))
    return Reply(text, intent="ask_which", query=query)


def did_you_mean(ctx: Context, query: Query, rerun: Callable[[str, str], Reply]) -> Reply | None:
    """An unknown name close to a known one: ask "did you mean …?"; None when none is close.

    `rerun(word, name)` searches again with the word put right; "yes" runs it when there is
    one suggestion.
    """
    word = query.unknown_names[0]
    people = ctx.library.people.names()
    close = close_names(word, people, ctx.library.settings.name_suggest_similarity)
    if not close:
        return None
    text = ctx.wording.say("clarify", "did_you_mean", word=word, names=_names(ctx, close[:3]))
    if len(close) == 1:
        ctx.memory.confirm = Confirm(text, lambda: rerun(word, close[0]))
        text = Md(f"{text} {ctx.wording.say('clarify', 'say_yes')}")
    return Reply(text, intent="did_you_mean", query=query)
