""" "Show me duplicates": the library's groups of copies, the one to keep in each, and why.

Only lists: nothing is deleted or moved (the library never does).
"""

from __future__ import annotations

from pathlib import Path

from assistant.context import Context
from assistant.replies import Md, Picture, Reply, plural

GROUPS_LISTED = 10  # groups written out in the reply; the command line lists them all


def duplicates(ctx: Context, _args: dict) -> Reply:
    """The duplicate groups as text, and the first groups' photos as a gallery."""
    groups = ctx.library.duplicates()
    if not groups:
        return Reply(ctx.wording.say("duplicates", "none"), intent="duplicates")
    extra = sum(len(g.members) - 1 for g in groups)
    lines = [
        ctx.wording.say(
            "duplicates",
            "summary",
            groups=len(groups),
            group_word=plural(len(groups), "group", "groups"),
            extra=extra,
            photo_word=plural(extra, "photo", "photos"),
        )
    ]
    for n, g in enumerate(groups[:GROUPS_LISTED], start=1):
        keep = next(m for m in g.members if m.photo_id == g.keep)
        kind = ctx.wording.say("duplicates", g.kind)
        lines.append(
            ctx.wording.say(
                "duplicates", "group", n=n, kind=Md(kind), file=Path(keep.path).name, why=g.why
            )
        )
    if len(groups) > GROUPS_LISTED:
        lines.append(
            ctx.wording.say("duplicates", "more_groups", count=len(groups) - GROUPS_LISTED)
        )
    return Reply("\n".join(lines), photos=_gallery(ctx, groups), intent="duplicates")


def _gallery(ctx: Context, groups: list) -> tuple[Picture, ...]:
    """The photos of the first groups, numbered, the one to keep first in each."""
    pictures: list[Picture] = []
    limit = ctx.library.settings.chat_page_size
    for n, g in enumerate(groups, start=1):
        for m in g.members:
            if len(pictures) >= limit:
                return tuple(pictures)
            number = len(pictures) + 1
            info = ctx.library.photo_info(m.photo_id)
            key = "caption_keep" if m.photo_id == g.keep else "caption_copy"
            why = g.why if m.photo_id == g.keep else m.why
            pictures.append(
                Picture(
                    number=number,
                    image=info["thumbnail"] or m.path,
                    caption=ctx.wording.plain("duplicates", key, number=number, n=n),
                    photo_id=m.photo_id,
                    path=m.path,
                    details=ctx.wording.say(
                        "duplicates", "details", number=number, file=Path(m.path).name, n=n, why=why
                    ),
                )
            )
    return tuple(pictures)
