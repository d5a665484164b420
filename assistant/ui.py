"""The Gradio page: a chat whose answers carry photo grids, a larger view, a people panel.

It only renders: every message goes to the session's `Conversation`, and the `Reply` it
returns is drawn as one chat message: its text, then its pictures as a small HTML grid that
wraps to the width of the screen. Chat history is plain text, so a long conversation costs
each turn what a short one does (Gradio rebuilt every gallery component of the history on
every turn). A click on a picture in the chat shows it larger, with its details.
"""

from __future__ import annotations

import html
import logging
import os
import time
from typing import Any
from urllib.parse import quote

import gradio as gr

from assistant.conversation import Assistant, Conversation
from assistant.replies import Picture, Reply, clock, escape

log = logging.getLogger("pir.chat")
SUGGESTIONS = 5  # buttons on the first screen

CSS = """
#pir-status { min-height: 1.5em; }
#pir-pick { display: none !important; }
.pir-grid { display: grid; gap: 6px; margin-top: 8px; width: 100%;
  grid-template-columns: repeat(auto-fill, minmax(104px, 1fr)); }
.pir-grid.pir-faces { grid-template-columns: repeat(auto-fill, minmax(72px, 1fr)); }
.pir-tile { cursor: pointer; margin: 0; min-width: 0; position: relative; }
.pir-play { position: absolute; top: 4px; left: 4px; padding: 1px 6px; border-radius: 10px;
  background: rgba(0, 0, 0, 0.65); color: #fff; font-size: 12px; pointer-events: none; }
.pir-tile img { width: 100%; aspect-ratio: 1 / 1; object-fit: cover; border-radius: 6px;
  display: block; margin: 0 !important; }
.pir-tile span { display: block; font-size: 12px; line-height: 1.25; overflow-wrap: anywhere; }
#pir-chat .message:has(.pir-grid) { width: 100%; max-width: 100%; }
#pir-people .caption-label { white-space: normal; max-width: 100%; overflow: visible;
  text-overflow: clip; opacity: 1; overflow-wrap: anywhere; }
#pir-suggest button { font-size: 13px; }
"""

# A click on a picture in the chat: put its key (a class: the sanitiser keeps no data-*
# attributes) in the hidden box (the server answers with
# the larger view), then bring the larger view into sight (below the chat on a phone).
CLICK_JS = """
() => {
  if (window.pirClicks) return;
  window.pirClicks = true;
  document.addEventListener('click', (event) => {
    const tile = event.target.closest('#pir-chat .pir-tile');
    if (!tile) return;
    const key = [...tile.classList].find((c) => c.startsWith('pir-key-'));
    if (!key) return;
    event.preventDefault();
    event.stopPropagation();
    const box = document.querySelector('#pir-pick textarea, #pir-pick input');
    if (!box) return;
    box.value = key.slice(8) + ' ' + Date.now();
    box.dispatchEvent(new Event('input', { bubbles: true }));
    const view = document.querySelector('#pir-photo');
    if (view) view.scrollIntoView({ behavior: 'smooth', block: 'start' });
  }, true);
}
"""


# A file the upload box refuses ("Invalid file type") is dropped by Gradio, and the message
# would go without it (and "who is this?" would be answered about an earlier photo). The
# next send after such a refusal is held back: the refusal's note is on screen, and a second
# Enter sends the words alone.
REJECTED_UPLOAD_JS = """
() => {
  if (window.pirRejects) return;
  window.pirRejects = true;
  window.pirRejectedAt = 0;
  new MutationObserver(() => {
    const notes = document.querySelectorAll('.toast-body, .toast-text, [data-testid="toast-body"]');
    for (const note of notes) {
      if (note.innerText && note.innerText.includes('Invalid file type') && !note.pirSeen) {
        note.pirSeen = true;
        window.pirRejectedAt = Date.now();
      }
    }
  }).observe(document.body, { childList: true, subtree: true });
  const held = (event) => {
    if (!window.pirRejectedAt || Date.now() - window.pirRejectedAt > 60000) return false;
    window.pirRejectedAt = 0;
    event.preventDefault();
    event.stopImmediatePropagation();
    return true;
  };
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && event.target.closest('#pir-input')) held(event);
  }, true);
  document.addEventListener('click', (event) => {
    if (event.target.closest('#pir-input .submit-button, #pir-input button[aria-label="Submit"]')) held(event);
  }, true);
}
"""


def file_url(path: str) -> str:
    """The URL Gradio serves a local file under (only inside the allowed folders)."""
    return "/gradio_api/file=" + quote(path)


def grid(reply: Reply, kind: str) -> str:
    """An HTML grid of a reply's photos ("p") or faces ("f"); each tile says which it is."""
    pictures = [p for p in (reply.photos if kind == "p" else reply.faces) if p.image]
    if not pictures:
        return ""
    tiles = "".join(
        f'<figure class="pir-tile pir-key-{reply.turn}-{kind}-{p.number}">'
        f'<img src="{html.escape(file_url(p.image))}" alt="{html.escape(p.caption)}"'
        f' loading="lazy">{play_mark(p)}<span>{html.escape(p.caption)}</span></figure>'
        for p in pictures
    )
    css = "pir-photos" if kind == "p" else "pir-faces"
    return f'<div class="pir-grid {css}">{tiles}</div>'


def play_mark(picture: Picture) -> str:
    """The play mark over a video's tile, with the time of the moment shown."""
    if picture.clip_at is None:
        return ""
    return f'<b class="pir-play">▶ {html.escape(clock(picture.clip_at))}</b>'


def clip_player(assistant: Assistant, picture: Picture) -> str:
    """The larger view's player for a picture's clip (a motion or Live Photo's clip), from
    the second `picture.clip_at`; "" when it has none."""
    if picture.photo_id is None or assistant.library is None:
        return ""
    with assistant.lock:
        path = assistant.library.photo_clip(picture.photo_id)
    if path is None:
        return ""
    src = html.escape(f"{file_url(path)}#t={picture.clip_at or 0:g}")
    return (
        f'<video class="pir-player" src="{src}" controls autoplay muted playsinline '
        'style="width:100%;max-height:320px;border-radius:6px"></video>'
    )


def reply_message(reply: Reply) -> dict:
    """The one chat message that shows a reply: its text, then its photos, then faces to pick."""
    parts = [reply.text, grid(reply, "p"), grid(reply, "f")]
    return {"role": "assistant", "content": "\n\n".join(p for p in parts if p)}


def window(chat: list[dict], assistant: Assistant) -> list[dict]:
    """The last `chat_window` messages, under a note that earlier ones are no longer shown.

    The browser redraws every message of the chat on every answer: keeping a fixed number
    keeps the 100th answer as quick as the 10th (and the session's memory bounded).
    """
    keep = assistant.settings.chat_window
    if len(chat) <= keep:
        return chat
    note = {"role": "assistant", "content": assistant.wording.say("ui", "earlier_hidden")}
    return [note, *chat[-(keep - 1) :]]


def people_tiles(assistant: Assistant, convo: Conversation | None) -> list[tuple[str, str]]:
    """The side panel: named people first, then unnamed groups under this session's numbers.

    The person of each tile is kept on the session (`convo.panel`), for a click on it.
    """
    lib = assistant.library
    if lib is None or convo is None:
        return []
    with assistant.lock:
        people = lib.people.everyone()
    say = assistant.wording.plain
    named = [p for p in people if p.name is not None]
    tiles = [
        (p.id, p.crop, say("ui", "people_tile", label=p.name, count=p.photo_count)) for p in named
    ]
    groups = []
    for p in people:
        if p.name is None:
            number = convo.memory.number_of(p.id, None)
            label = say("labels", "person", n=number)
            caption = say("ui", "people_tile", label=label, count=p.photo_count)
            groups.append((number, p.id, p.crop, caption))
    tiles += [(pid, crop, caption) for _n, pid, crop, caption in sorted(groups)]
    shown = [(pid, crop, caption) for pid, crop, caption in tiles if crop]
    convo.panel = [pid for pid, _crop, _caption in shown]
    return [(crop, caption) for _pid, crop, caption in shown]


def build_ui(assistant: Assistant, demo_library: bool = False) -> gr.Blocks:
    """The whole page for one shared Assistant; each browser session gets its own Conversation."""
    # Gradio's queue keeps a record of every event and, by default, rebuilds a pandas summary
    # of all of them after each one: a cost that grows with the server's life. Keep a short
    # record and summarise rarely (it only feeds Gradio's monitoring page).
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "500")
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "500")
    # Gradio's "run history" copies every answer (the whole chat each time, up to 100 runs)
    # into the browser's localStorage after each one: the page slowed down with every turn,
    # and a shared link left people's photo conversations in the browser. Off.
    os.environ.setdefault("GRADIO_RUN_HISTORY", "False")
    ui = assistant.wording.replies["ui"]  # the page's fixed labels, from prompts/replies.toml
    guest = assistant.read_only
    with gr.Blocks(title=ui["title"]) as demo:
        conversation = gr.State(None)  # this session's Conversation, made when the page loads
        history = gr.State(list)
        with gr.Row():
            with gr.Column(scale=3):
                gr.Markdown(f"## {ui['title']}")
                status = gr.Markdown(assistant.library_note(), elem_id="pir-status")
                chatbot = gr.Chatbot(
                    elem_id="pir-chat",
                    latex_delimiters=[],  # photo answers hold no formulas: skip the scan
                    height=620,
                    show_label=False,
                    placeholder=ui["demo_placeholder" if demo_library else "chat_placeholder"],
                )
                box = gr.MultimodalTextbox(
                    elem_id="pir-input",
                    file_types=["image"],
                    file_count="single",
                    # A guest on a read-only link is not invited to name anyone.
                    placeholder=ui["input_placeholder_guest" if guest else "input_placeholder"],
                    show_label=False,
                    submit_btn=True,
                )
                pick = gr.Textbox(elem_id="pir-pick", show_label=False, container=False)
                # The first screen's suggestions: buttons that send their words, made from
                # the library's own names, years and places when the page loads.
                with gr.Row(elem_id="pir-suggest"):
                    suggest = [gr.Button(visible=False, size="sm") for _ in range(SUGGESTIONS)]
            with gr.Column(scale=2):
                photo = gr.Image(
                    label=ui["photo"], interactive=False, elem_id="pir-photo", height=300
                )
                clip = gr.HTML("", elem_id="pir-clip")
                info = gr.Markdown(ui["info"], elem_id="pir-info")
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
            progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's documented idiom)
        ) -> tuple[Any, ...]:
            started, cpu = time.perf_counter(), time.process_time()
            convo = convo or assistant.new_session()
            text = (message or {}).get("text", "") or ""
            files = (message or {}).get("files") or []
            upload = files[0] if files else None
            if isinstance(upload, dict):
                upload = upload.get("path")

            toasted: list[str] = []

            def say_status(note: str) -> None:
                # The progress line follows every step (a download reports each percent);
                # a toast only the first, so a download does not pile up a hundred of them.
                progress(0.5, desc=note)
                if not toasted:
                    toasted.append(note)
                    gr.Info(note)

            reply = convo.respond(text, upload=upload, status=say_status)
            if text:
                chat = [*chat, {"role": "user", "content": escape(text)}]
            if upload:
                chat = [*chat, {"role": "user", "content": {"path": upload}}]
            chat = window([*chat, reply_message(reply)], assistant)
            panel = people_tiles(assistant, convo) if reply.people_changed else gr.skip()
            log.info(
                "chat turn %d: %s in %.3f s (cpu %.3f s)",
                reply.turn,
                reply.intent,
                time.perf_counter() - started,
                time.process_time() - cpu,
            )
            return chat, convo, chat, None, panel, assistant.library_note()

        def suggested(text: str, convo: Conversation | None, chat: list[dict]) -> tuple[Any, ...]:
            return respond({"text": text}, convo, chat)

        def person_photos(
            convo: Conversation | None, chat: list[dict], evt: gr.SelectData
        ) -> tuple[Any, ...]:
            """A click on a face in the people panel: that person's photos, in the chat."""
            convo = convo or assistant.new_session()
            panel = getattr(convo, "panel", [])
            if evt.index is None or not 0 <= int(evt.index) < len(panel):
                return gr.skip(), convo, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            reply = convo.show_person(panel[int(evt.index)])
            chat = window([*chat, reply_message(reply)], assistant)
            return chat, convo, chat, gr.skip(), gr.skip(), assistant.library_note()

        def show_picked(key: str, convo: Conversation | None) -> tuple[Any, Any, Any]:
            """A click on a picture in the chat: "<turn>-<p|f>-<number> <time>"."""
            try:
                turn, kind, number = key.split()[0].split("-")
                picture = convo.picture(int(turn), kind, int(number)) if convo else None
            except ValueError:
                picture = None
            if picture is None:
                return gr.skip(), gr.skip(), gr.skip()
            details = picture.details or escape(picture.caption)
            return picture.image, details, clip_player(assistant, picture)

        def load() -> tuple[Any, ...]:
            convo = assistant.new_session()
            words = assistant.suggestions()[:SUGGESTIONS]
            buttons = [gr.update(value=w, visible=True) for w in words]
            buttons += [gr.update(visible=False)] * (SUGGESTIONS - len(words))
            return (convo, people_tiles(assistant, convo), assistant.library_note(), *buttons)

        box.submit(
            respond,
            [box, conversation, history],
            [chatbot, conversation, history, box, people, status],
            show_progress="minimal",
        )
        outputs = [chatbot, conversation, history, box, people, status]
        for button in suggest:
            button.click(suggested, [button, conversation, history], outputs)
        people.select(person_photos, [conversation, history], outputs)
        pick.change(show_picked, [pick, conversation], [photo, info, clip], show_progress="hidden")
        demo.load(load, None, [conversation, people, status, *suggest])
        demo.load(None, None, None, js=CLICK_JS)
        demo.load(None, None, None, js=REJECTED_UPLOAD_JS)
        timer = gr.Timer(3.0)
        # Outside the queue: an idle page's tick costs one small request, no queue bookkeeping.
        timer.tick(
            _refresh_while_indexing(assistant),
            [conversation],
            [status, people],
            queue=False,
            show_progress="hidden",
        )
    return demo


def _refresh_while_indexing(assistant: Assistant):
    """A timer callback: new status and people while indexing runs (and just after)."""

    def tick(convo: Conversation | None) -> tuple[Any, Any]:
        if not (assistant.indexing or time.time() - assistant.indexing_ended < 10):
            return gr.skip(), gr.skip()
        return assistant.library_note(), people_tiles(assistant, convo)

    return tick
