"""Chat latency: from `app.py serve` to the page, then the first and later chat queries.

    python bench/chat_latency.py [--photos DIR] [--no-http]   (DIR: the evaluation face photos,
    by default $PIR_EVAL_DIR/faces, see bench/_common.py)

Uses the real ViT-B-32 architecture with random weights (same compute as trained ones, no
meaning: timings are real, rankings are not). Steps, each in the way a user meets them:

1. index the photos into a temporary data dir with `app.py index` (timed as `index_s`), then
   name two people the way a user would, so queries can filter by person;
2. start `app.py serve` as a subprocess and time it until `/` answers HTTP 200; while it runs,
   send the queries of step 3 through its chat endpoint (gradio_client, as the page does;
   `--no-http` skips this); then stop it;
3. in a fresh process, through the code the UI calls (`Assistant.new_session().respond`): the
   first query (imports excluded; model and query parser loading included, as in the UI, which
   loads both lazily on the first query), then later queries with and without people and date
   filters, each in a new session so none is read as a refinement of the one before;
4. (with the server of step 2) one 60-message conversation in one session — searches with
   galleries, more, who-is, who do you know, naming, help, in blocks of six so the first six and
   the last six ask the same things — timed per answer end to end (a client speaking the page's
   queue protocol) and server side (the handler's seconds from the server's log, and the server
   process's CPU time per answer); `growth` = median of the last six / first six;
5. ten messages in one session alone (`solo_p95_s`), then in 20 sessions at once, each
   pausing 1-4 s between messages as a person reading and typing does (`concurrent_p95_s`,
   `concurrent_over_solo`), and once more back to back with no pause at all, a stress figure
   (`back_to_back_p95_s`, `back_to_back_over_solo`); `errors` counts failed answers.

6. the 60 messages once more in a real browser (Debian chromium driven by Playwright, when
   installed), from pressing Enter to the answer drawn: `browser_growth`.

`--trust-only` skips steps 3 and the gradio_client queries of step 2.

With random weights most text-only queries end in "no good matches" (the tail cut finds no
photo standing out), so only the people/date queries build a gallery; that part is cheap
(~0.01 s for 10 photos here). Other work on the machine shows up as slow outliers (torch's
threads wait for the busy cores): the load average is printed and kept in the figures.

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from _common import ROOT, eval_dir, percentile

DEFAULT_PHOTOS = eval_dir("faces")
# Folder of the public faces library -> the name a user would give that person.
PEOPLE = {"colin_powell": "Colin Powell", "angelina": "Angelina"}
FIRST_QUERY = "a man in a suit"


def later_queries(year: int) -> list[str]:
    """Different requests, as a user types them: descriptions, people, dates, and mixes."""
    return [
        "people smiling outdoors",
        "Colin Powell at a press conference",
        "photos of Angelina on a red carpet",
        "a group of friends at dinner",
        "a dog on the grass",
        f"portraits from {year}",
        f"Colin Powell in {year}",
        "a woman with long hair",
        "close-up of a face with glasses",
        "flowers in a garden",
        "photos of Angelina",
    ]


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app(*args: str) -> list[str]:
    """The command line for `python app.py ARGS`."""
    return [sys.executable, str(ROOT / "app.py"), *args]


def index_photos(photos: Path, data: Path, spec: str) -> float:
    """Seconds for `app.py index` (a subprocess, model loading included)."""
    start = time.perf_counter()
    subprocess.run(
        app("index", str(photos), "--data", str(data), "--clip", spec),
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return time.perf_counter() - start


def name_people(photos: Path, data: Path, spec: str) -> tuple[list[str], int]:
    """Name one photo per person as a user would; returns (names given, most common year)."""
    from index.errors import InvalidInput
    from index.library import Library

    lib = Library(data, clip=spec)
    named = []
    for folder, name in PEOPLE.items():
        for photo in sorted((photos / folder).glob("*.jpg")):
            try:
                lib.people.name_face(photo, name)
            except InvalidInput:  # no face, or several: try the person's next photo
                continue
            named.append(name)
            break
    years = Counter()
    for photo_id in range(1, lib.stats().get("photos", 0) + 1):
        try:
            taken = lib.photo_info(photo_id)["taken_at"]
        except Exception:  # a gap in ids (a skipped file) is not a photo
            continue
        if taken:
            years[int(str(taken)[:4])] += 1
    lib.close()
    year = years.most_common(1)[0][0] if years else time.localtime().tm_year
    return named, year


@contextmanager
def served(data: Path, spec: str, log: Path, limit_s: float = 120.0) -> Iterator[tuple[float, str]]:
    """Launch `app.py serve`; yield (seconds until `/` answered 200, its URL); stop it after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with log.open("w") as out:
        start = time.perf_counter()
        server = subprocess.Popen(
            app("serve", "--data", str(data), "--clip", spec, "--port", str(port)),
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield wait_for_page(server, url, start, limit_s, log), url, server.pid
        finally:
            server.terminate()  # this process's own child, by its PID
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def wait_for_page(
    server: subprocess.Popen, url: str, start: float, limit_s: float, log: Path
) -> float:
    """Poll `url` every 50 ms; seconds since `start` when it first answers 200."""
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited ({server.returncode}); see {log}")
        if time.perf_counter() - start > limit_s:
            raise RuntimeError(f"no page after {limit_s:.0f} s; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return time.perf_counter() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet
        time.sleep(0.05)


def queries_over_http(url: str, year: int) -> dict:
    """The same queries through the running server's chat endpoint, as the page sends them.

    Files in the answer are not downloaded (a browser fetches the thumbnails afterwards, in
    parallel); each query gets a new session, like a new browser tab.
    """
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False, analytics_enabled=False)

    def ask(text: str) -> dict:
        client.reset_session()
        t = time.perf_counter()
        client.predict({"text": text, "files": []}, api_name="/respond")
        return {"text": text, "s": time.perf_counter() - t}

    first = ask(FIRST_QUERY)
    return {"first": first, "later": [ask(text) for text in later_queries(year)]}


# Before each message a person reads the last answer and types: 1-4 s (uniform, seeded).
PAUSE_S = (1.0, 4.0)
GROUP_NAMES = ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel"]


def long_conversation(year: int, blocks: int = 10) -> list[str]:
    """60 messages in blocks of six; blocks 3-8 name a group where the others ask for help."""
    messages = []
    for k in range(blocks):
        last = f"person {k - 1} is Friend {GROUP_NAMES[k - 2]}" if 2 <= k < blocks - 2 else "help"
        messages += [
            "photos of Colin Powell",
            "more",
            "who is in photo 1?",
            f"photos from {year}",
            "who do you know?",
            last,
        ]
    return messages


def session_messages(year: int) -> list[str]:
    """Ten messages one user sends: searches, paging, who-is, refinement, help."""
    return [
        "photos of Colin Powell",
        "more",
        "who is in photo 1?",
        f"photos from {year}",
        "who do you know?",
        "people smiling outdoors",
        "photos of Angelina",
        f"only the ones from {year}",
        "help",
        "more",
    ]


def server_turns(log: Path) -> list[tuple[int, float, float]]:
    """(turn, seconds, cpu seconds) of each answer, from the server's log lines."""
    found = re.findall(r"chat turn (\d+): \S+ in ([\d.]+) s \(cpu ([\d.]+) s\)", log.read_text())
    return [(int(t), float(s), float(c)) for t, s, c in found]


class ChatSession:
    """One browser session speaking Gradio's queue protocol as the page does: join, then read
    the event stream until the answer. (gradio_client spends ~50 ms of CPU per answer in this
    process; with 20 of them on 2 cores that, not the server, would be the figure.)"""

    def __init__(self, url: str, endpoint: tuple[int, int]):
        import httpx

        self.api = url.rstrip("/") + "/gradio_api/"
        self.fn_index, self.inputs = endpoint
        self.http = httpx.Client(timeout=300)
        self.session_hash = uuid.uuid4().hex

    def ask(self, text: str) -> list:
        """Send one chat message; the outputs of the answer."""
        body = {
            # The message, then the session's state inputs (the server keeps those).
            "data": [{"text": text, "files": []}] + [None] * (self.inputs - 1),
            "fn_index": self.fn_index,
            "session_hash": self.session_hash,
            "event_data": None,
            "trigger_id": None,
        }
        self.http.post(self.api + "queue/join", json=body).raise_for_status()
        params = {"session_hash": self.session_hash}
        with self.http.stream("GET", self.api + "queue/data", params=params) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    if not message.get("success"):
                        raise RuntimeError(str(message.get("output"))[:300])
                    return message["output"]["data"]
        raise RuntimeError("the event stream ended without an answer")


def respond_fn_index(url: str) -> tuple[int, int]:
    """(id, number of inputs) of the chat's respond event, from the page's config."""
    with urllib.request.urlopen(url.rstrip("/") + "/config", timeout=10) as answer:
        config = json.load(answer)
    event = next(d for d in config["dependencies"] if d.get("api_name") == "respond")
    return event["id"], len(event["inputs"])


def converse(
    url: str,
    messages: list[str],
    failures: list[str] | None = None,
    pause_s: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
) -> list[float]:
    """One session sending `messages` in turn; seconds per answer, end to end.

    `pause_s` is the (min, max) time a person takes before each message: reading the last
    answer and typing (uniform, seeded). With `failures`, a failed answer is noted and the session goes on.
    """
    session = ChatSession(url, respond_fn_index(url))
    pauses = random.Random(seed)
    seconds = []
    for text in messages:
        time.sleep(pauses.uniform(*pause_s))  # people do not all start at the same instant either
        t = time.perf_counter()
        try:
            session.ask(text)
        except Exception as err:  # a failed answer is a figure, not a crash of the bench
            if failures is None:
                raise
            failures.append(f"{text!r}: {err!r}")
            continue
        seconds.append(time.perf_counter() - t)
    return seconds


def process_cpu_s(pid: int) -> float:
    """CPU seconds the process has run so far, all its threads (Linux schedstat, ns)."""
    total = 0
    for path in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def long_and_concurrent(url: str, log: Path, pid: int, year: int, sessions: int = 20) -> dict:
    """Steps 4 and 5 against the running server (`pid`: its process, for its CPU time)."""
    from concurrent.futures import ThreadPoolExecutor

    converse(url, session_messages(year))  # warm: query parser and CLIP loaded, caches filled
    before = len(server_turns(log))
    messages = long_conversation(year)
    session = ChatSession(url, respond_fn_index(url))
    e2e, cpu = [], []
    for text in messages:
        t, used = time.perf_counter(), process_cpu_s(pid)
        session.ask(text)
        e2e.append(time.perf_counter() - t)
        cpu.append(process_cpu_s(pid) - used)
    time.sleep(0.5)  # the log line of the last answer
    server = [s for _turn, s, _cpu in server_turns(log)[before:]]
    ten = session_messages(year)
    solo = [s for _k in range(3) for s in converse(url, ten)]  # 30 answers, one session at a time
    failures: list[str] = []

    def together(pause_s: tuple[float, float]) -> list[float]:
        def one(k: int) -> list[float]:
            return converse(url, ten, failures, pause_s=pause_s, seed=k)

        with ThreadPoolExecutor(sessions) as pool:
            return [s for times in pool.map(one, range(sessions)) for s in times]

    concurrent = together(PAUSE_S)
    back_to_back = together((0.0, 0.0))
    browser = in_browser(url, messages)
    return {
        "browser": browser,
        "messages": messages,
        "e2e": e2e,
        "server": server,
        "cpu": cpu,
        "solo": solo,
        "concurrent": concurrent,
        "back_to_back": back_to_back,
        "errors": len(failures),
        "failures": failures[:5],
    }


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def in_browser(url: str, messages: list[str]) -> list[float] | None:
    """Seconds per answer in chromium: from Enter until the answer is drawn (None: no browser)."""
    if not Path(CHROMIUM).exists():
        return None
    from playwright.sync_api import sync_playwright

    last_answer = (
        "() => { const rows = document.querySelectorAll('#pir-chat .message-row.bot-row');"
        " return rows.length ? rows[rows.length - 1].innerText : '' }"
    )
    drawn = (
        "before => { const rows = document.querySelectorAll('#pir-chat .message-row.bot-row');"
        " return rows.length && rows[rows.length - 1].innerText !== before"
        " && !document.querySelector('#pir-chat .pending') }"
    )
    seconds = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url)
        page.wait_for_selector("#pir-input textarea")
        for text in messages:
            before = page.evaluate(last_answer)
            page.locator("#pir-input textarea").fill(text)
            t = time.perf_counter()
            page.keyboard.press("Enter")
            page.wait_for_function(drawn, arg=before, timeout=120_000)
            seconds.append(time.perf_counter() - t)
        browser.close()
    return seconds


def median(values: list[float]) -> float:
    """The middle value (mean of the two middle ones for an even count)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def run_queries(data: Path, spec: str, year: int) -> dict:
    """The child side: first query in this fresh process, then the later ones (JSON out)."""
    start = time.perf_counter()
    from assistant.conversation import Assistant
    from index.library import Library

    imports_s = time.perf_counter() - start
    assistant = Assistant(Library(data, clip=spec))

    def ask(text: str) -> dict:
        t = time.perf_counter()
        reply = assistant.new_session().respond(text)
        seconds = time.perf_counter() - t
        return {"text": text, "s": seconds, "intent": reply.intent, "photos": len(reply.photos)}

    first = ask(FIRST_QUERY)
    later = [ask(text) for text in later_queries(year)]
    return {"imports_s": imports_s, "first": first, "later": later}


def queries_in_fresh_process(data: Path, spec: str, year: int) -> dict:
    """Run `run_queries` in a new Python process (nothing loaded yet) and read its JSON."""
    done = subprocess.run(
        [sys.executable, __file__, "--queries-of", str(data), spec, str(year)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def trust_figures(trust: dict) -> dict:
    """Print and return the figures of steps 4 and 5."""
    figures: dict = {}
    e2e, server = trust["e2e"], trust["server"]
    print("a 60-message conversation in one session (end to end; server-side from its log)")
    for k in range(0, len(e2e), 6):
        block = ", ".join(f"{x:.2f}" for x in e2e[k : k + 6])
        print(f"  messages {k + 1:2d}-{k + 6:2d}: {block} s")
    first6, last6 = median(e2e[:6]), median(e2e[-6:])
    figures["first6_median_s"] = round(first6, 3)
    figures["last6_median_s"] = round(last6, 3)
    figures["growth"] = round(last6 / first6, 2)
    if len(server) == len(e2e):
        s_first, s_last = median(server[:6]), median(server[-6:])
        figures["server_first6_median_s"] = round(s_first, 4)
        figures["server_last6_median_s"] = round(s_last, 4)
        figures["server_growth"] = round(s_last / s_first, 2)
    else:
        print(f"  note: {len(server)} server log lines for {len(e2e)} answers")
    # The server process's CPU per answer: the handler plus all of Gradio's work.
    c_first, c_last = median(trust["cpu"][:6]), median(trust["cpu"][-6:])
    figures["server_cpu_first6_median_s"] = round(c_first, 3)
    figures["server_cpu_last6_median_s"] = round(c_last, 3)
    figures["server_cpu_growth"] = round(c_last / c_first, 2) if c_first else None
    solo, concurrent = trust["solo"], trust["concurrent"]
    figures["solo_p95_s"] = round(percentile(solo, 95), 3)
    figures["concurrent_p95_s"] = round(percentile(concurrent, 95), 3) if concurrent else None
    figures["concurrent_p50_s"] = round(percentile(concurrent, 50), 3) if concurrent else None
    if concurrent:
        figures["concurrent_over_solo"] = round(
            figures["concurrent_p95_s"] / figures["solo_p95_s"], 2
        )
    figures["concurrent_sessions"] = 20
    figures["concurrent_pause_s"] = list(PAUSE_S)
    b2b = trust["back_to_back"]
    if b2b:
        figures["back_to_back_p95_s"] = round(percentile(b2b, 95), 3)
        figures["back_to_back_over_solo"] = round(
            figures["back_to_back_p95_s"] / figures["solo_p95_s"], 2
        )
    browser = trust["browser"]
    if browser:
        print("the 60 messages in chromium (Enter -> answer drawn)")
        for k in range(0, len(browser), 6):
            print(
                f"  messages {k + 1:2d}-{k + 6:2d}: "
                + ", ".join(f"{x:.2f}" for x in browser[k : k + 6])
            )
        b_first, b_last = median(browser[:6]), median(browser[-6:])
        figures["browser_first6_median_s"] = round(b_first, 3)
        figures["browser_last6_median_s"] = round(b_last, 3)
        figures["browser_growth"] = round(b_last / b_first, 2)
    figures["errors"] = trust["errors"]
    for failure in trust["failures"]:
        print(f"  failed: {failure}")
    print(
        f"growth {figures['growth']} (first six {first6:.3f} s, last six {last6:.3f} s); "
        f"solo p95 {figures['solo_p95_s']} s, 20 sessions p95 "
        f"{figures['concurrent_p95_s']} s, errors {figures['errors']}"
    )
    figures["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument(
        "--no-http", dest="http", action="store_false", help="skip the queries through the server"
    )
    ap.add_argument(
        "--trust-only",
        action="store_true",
        help="only the long conversation and the concurrent sessions (steps 4 and 5)",
    )
    ap.add_argument(
        "--queries-of", nargs=3, metavar=("DATA", "SPEC", "YEAR"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.queries_of:
        data, spec, year = args.queries_of
        print(json.dumps(run_queries(Path(data), spec, int(year))))
        return
    if not args.photos.is_dir():
        sys.exit(f"no photos at {args.photos}; pass --photos DIR")

    from index.random_clip import save_random_vit_b_32

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="pir-chat-bench-") as tmp:
        tmp = Path(tmp)
        spec = save_random_vit_b_32(tmp / "vit-b-32-random")
        data = tmp / "data"
        photos = args.photos.resolve()

        index_s = index_photos(photos, data, spec)
        named, year = name_people(photos, data, spec)
        print(f"indexed {photos} in {index_s:.1f} s (app.py index, model load included)")
        print(f"  named: {', '.join(named) or 'nobody'}; most photos from {year}")

        with served(data, spec, tmp / "serve.log") as (serve_s, url, pid):
            print(f"app.py serve -> page answers 200 on /: {serve_s:.2f} s")
            only = args.trust_only
            http = queries_over_http(url, year) if args.http and not only else None
            trust = long_and_concurrent(url, tmp / "serve.log", pid, year) if args.http else None
        if args.trust_only:
            figures = {"photos": photos.name, "index_s": round(index_s, 2), "cpus": os.cpu_count()}
            figures["load_avg_1m_before"] = round(load_before[0], 2)
            print(json.dumps({**figures, **trust_figures(trust)}))
            return

        q = queries_in_fresh_process(data, spec, year)
    load_after = os.getloadavg()

    first = q["first"]
    later = q["later"]
    later_s = [item["s"] for item in later]
    print(f"chat queries (Assistant.respond, in a fresh process; imports {q['imports_s']:.1f} s)")
    print(f"  first  {first['s']:6.2f} s  {first['text']!r} (loads CLIP and the query parser)")
    for item in later:
        print(f"  later  {item['s']:6.2f} s  {item['text']!r}: {item['photos']} photos")
    print(f"  later p50 {percentile(later_s, 50):.3f} s, p95 {percentile(later_s, 95):.3f} s")
    if http:
        http_s = [item["s"] for item in http["later"]]
        print("the same queries through the server (gradio_client -> /respond, new session each)")
        print(
            f"  first  {http['first']['s']:6.2f} s  (the server's first: loads CLIP and the parser)"
        )
        print("  later  " + ", ".join(f"{x:.2f}" for x in http_s) + " s")
        print(f"  later p50 {percentile(http_s, 50):.3f} s, p95 {percentile(http_s, 95):.3f} s")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    not_searches = [i["text"] for i in [first, *later] if i["intent"] != "search"]
    if max(later_s) > 5 * percentile(later_s, 50):
        print("  note: a slow outlier; with other work on the cores, most likely CPU contention")
    if not_searches:
        print(f"  note: not answered as searches: {not_searches}")

    figures = {
        "photos": photos.name,
        "index_s": round(index_s, 2),
        "serve_to_page_s": round(serve_s, 2),
        "first_query_s": round(first["s"], 3),
        "first_query_includes": "torch import, CLIP ViT-B-32 load, query parser load, search",
        "imports_s": round(q["imports_s"], 2),
        "later_query_p50_s": round(percentile(later_s, 50), 3),
        "later_query_p95_s": round(percentile(later_s, 95), 3),
        "later_query_max_s": round(max(later_s), 3),
        "later_queries": len(later_s),
        "not_searches": not_searches,
        "later_query_mean_photos": round(sum(i["photos"] for i in later) / len(later), 1),
        "load_avg_1m_before": round(load_before[0], 2),
        "load_avg_1m_after": round(load_after[0], 2),
        "cpus": os.cpu_count(),
    }
    if http:
        figures["http_first_query_s"] = round(http["first"]["s"], 3)
        figures["http_later_query_p50_s"] = round(percentile(http_s, 50), 3)
        figures["http_later_query_p95_s"] = round(percentile(http_s, 95), 3)
        figures["http_later_query_max_s"] = round(max(http_s), 3)
    if trust:
        figures.update(trust_figures(trust))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
