"""The Gradio page: a chat whose answers carry photo galleries, a larger view, a people panel.

It only renders: every message goes to the session's `Conversation`, and the `Reply` it
returns is drawn as chat text plus a numbered gallery inside the chat message.
"""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from assistant.conversation import Assistant, Conversation, Picture, Reply

CSS = """
#pir-status { min-height: 1.5em; }
.pir-chat-gallery { min-width: 480px; }
"""


def _tiles(pictures: tuple[Picture, ...] | list[Picture]) -> list[tuple[str, str]]:
    """(image, caption) pairs for a gr.Gallery; pictures without an image are left out."""
    return [(p.image, p.caption) for p in pictures if p.image]


def _gallery(pictures: tuple[Picture, ...], kind: str) -> gr.Gallery:
    return gr.Gallery(
        value=_tiles(pictures),
        columns=4 if kind == "photos" else 6,
        height="auto",
        object_fit="cover" if kind == "faces" else "contain",
        show_label=False,
        allow_preview=True,
        elem_classes=["pir-chat-gallery", f"pir-chat-{kind}"],
    )


def reply_messages(reply: Reply) -> list[dict]:
    """The chat messages that show one reply: its text, then its photos, then faces to pick."""
    messages: list[dict] = [{"role": "assistant", "content": reply.text}]
    if _tiles(reply.photos):
        messages.append({"role": "assistant", "content": _gallery(reply.photos, "photos")})
    if _tiles(reply.faces):
        messages.append({"role": "assistant", "content": _gallery(reply.faces, "faces")})
    return messages


def people_tiles(assistant: Assistant) -> list[tuple[str, str]]:
    """The side panel: named people first, then unnamed groups, each with a face crop."""
    lib = assistant.library
    if lib is None:
        return []
    with assistant.lock:
        people = lib.people()
    named_first = sorted(people, key=lambda p: p.name is None)
    unnamed = [p for p in named_first if p.name is None]
    say = assistant.words.say
    tiles = []
    for p in named_first:
        # Unnamed groups carry the number the chat understands ("person 2 is Carol").
        label = p.name or say("labels", "person", n=unnamed.index(p) + 1)
        if p.crop:
            tiles.append((p.crop, say("ui", "people_tile", label=label, count=p.photo_count)))
    return tiles


def build_ui(assistant: Assistant) -> gr.Blocks:
    """The whole page for one shared Assistant; each browser session gets its own Conversation."""
    ui = assistant.words.replies["ui"]  # the page's fixed labels, from prompts/replies.toml
    with gr.Blocks(title=ui["title"]) as demo:
        conversation = gr.State(None)  # this session's Conversation, made at its first message
        history = gr.State(list)
        shown = gr.State(list)  # the photos of the last answer, for the larger view
        with gr.Row():
            with gr.Column(scale=3):
                gr.Markdown(f"## {ui['title']}")
                status = gr.Markdown(assistant.library_note(), elem_id="pir-status")
                chatbot = gr.Chatbot(
                    elem_id="pir-chat",
                    height=620,
                    show_label=False,
                    placeholder=ui["chat_placeholder"],
                )
                box = gr.MultimodalTextbox(
                    elem_id="pir-input",
                    file_types=["image"],
                    file_count="single",
                    placeholder=ui["input_placeholder"],
                    show_label=False,
                    submit_btn=True,
                )
            with gr.Column(scale=2):
                photo = gr.Image(
                    label=ui["photo"], interactive=False, elem_id="pir-photo", height=300
                )
                info = gr.Markdown(ui["info"], elem_id="pir-info")
                results = gr.Gallery(
                    label=ui["results"],
                    columns=4,
                    height=260,
                    allow_preview=False,
                    elem_id="pir-results",
                )
                people = gr.Gallery(
                    label=ui["people"],
                    columns=4,
                    height=260,
                    allow_preview=False,
                    elem_id="pir-people",
                )

        def respond(
            message: dict | None,
            convo: Conversation | None,
            chat: list[dict],
            pictures: list[Picture],
            progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's documented idiom)
        ) -> tuple[Any, ...]:
            convo = convo or assistant.new_session()
            text = (message or {}).get("text", "") or ""
            files = (message or {}).get("files") or []
            upload = files[0] if files else None
            if isinstance(upload, dict):
                upload = upload.get("path")

            def say_status(note: str) -> None:
                progress(0.5, desc=note)
                gr.Info(note)

            reply = convo.respond(text, upload=upload, status=say_status)
            if text:
                chat = [*chat, {"role": "user", "content": text}]
            if upload:
                chat = [*chat, {"role": "user", "content": {"path": upload}}]
            chat = [*chat, *reply_messages(reply)]
            if reply.photos:
                pictures = [p for p in reply.photos if p.image]
            panel = people_tiles(assistant) if reply.people_changed else gr.skip()
            return (
                chat,
                convo,
                chat,
                gr.MultimodalTextbox(value=None),
                _tiles(pictures) if reply.photos else gr.skip(),
                pictures,
                panel,
                assistant.library_note(),
            )

        def select(pictures: list[Picture], evt: gr.SelectData) -> tuple[Any, str]:
            if evt.index is None or not 0 <= evt.index < len(pictures):
                return gr.skip(), gr.skip()
            picture = pictures[evt.index]
            return picture.image, picture.details or picture.caption

        box.submit(
            respond,
            [box, conversation, history, shown],
            [chatbot, conversation, history, box, results, shown, people, status],
            show_progress="minimal",
        )
        results.select(select, [shown], [photo, info])
        demo.load(
            lambda: (people_tiles(assistant), assistant.library_note()), None, [people, status]
        )
        timer = gr.Timer(3.0)
        timer.tick(_refresh_while_indexing(assistant), None, [status, people])
    return demo


def _refresh_while_indexing(assistant: Assistant):
    """A timer callback: new status and people while indexing runs (and just after)."""

    def tick() -> tuple[Any, Any]:
        if not (assistant.indexing or time.time() - assistant.indexing_ended < 10):
            return gr.skip(), gr.skip()
        return assistant.library_note(), people_tiles(assistant)

    return tick
