"""Personal Image Retriever — the command line. Thin: parses flags, calls index/ and assistant/."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from pathlib import Path

from index.catalog import CATALOG_NAME, damaged_message
from index.errors import PirError


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (for --limit and --face)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is too small: give 1 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""

    def common_flags(defaults: bool) -> argparse.ArgumentParser:
        # Subcommands must not reset what was given before the command name
        # (`app.py --data D stats`), so only the top level has defaults.
        flags = argparse.ArgumentParser(add_help=False)
        kw = {} if defaults else {"default": argparse.SUPPRESS}
        flags.add_argument("--data", help="data dir (default: PIR_DATA or the user data dir)", **kw)
        flags.add_argument("--clip", help="CLIP model: NAME/TAG, local-dir:PATH or hf:ID", **kw)
        flags.add_argument("--no-faces", action="store_true", help="skip face detection", **kw)
        flags.add_argument(
            "--no-ocr", action="store_true", help="skip reading words in photos", **kw
        )
        return flags

    common = common_flags(defaults=False)
    p = argparse.ArgumentParser(
        prog="app.py",
        description="Find photos in your own library by people, dates, places and descriptions.",
        parents=[common_flags(defaults=True)],
    )
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("index", parents=[common], help="index a folder of photos")
    s.add_argument("folder")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.add_argument("--reembed", action="store_true", help="re-embed with a different --clip model")
    s.add_argument(
        "--retry-skipped", action="store_true", help="read every skipped file again, changed or not"
    )

    s = sub.add_parser("search", parents=[common], help="search the library")
    s.add_argument("text", nargs="?", default="")
    s.add_argument("--like", metavar="PHOTO", help="photos that look like this one")
    s.add_argument("--json", action="store_true")
    s.add_argument("--limit", type=positive_int, help="at most N photos")
    s.add_argument("--explain", action="store_true", help="say why each photo matched")

    s = sub.add_parser("parse", parents=[common], help="show how a query is understood")
    s.add_argument("text")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("stats", parents=[common], help="what the library holds")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser(
        "duplicates", parents=[common], help="list exact copies and near-duplicates (never deletes)"
    )
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("people", parents=[common], help="list people and unnamed face groups")
    s.add_argument("--json", action="store_true")
    s.add_argument("--export", metavar="FILE", help="save names and their faces to FILE")
    s.add_argument("--import", dest="import_file", metavar="FILE", help="give names back from FILE")

    s = sub.add_parser("name", parents=[common], help="name the person in a photo")
    s.add_argument("photo")
    s.add_argument("name")
    s.add_argument("--face", type=positive_int, help="which face, counted from the left (1, 2, …)")

    s = sub.add_parser("rename", parents=[common], help="rename a person")
    s.add_argument("old")
    s.add_argument("new")

    s = sub.add_parser("merge", parents=[common], help="merge person A into person B")
    s.add_argument("a")
    s.add_argument("b")

    s = sub.add_parser("alias", parents=[common], help="another name for a person")
    s.add_argument("name")
    s.add_argument("alias")

    s = sub.add_parser("forget", parents=[common], help="forget a person's name")
    s.add_argument("name")

    s = sub.add_parser("unassign", parents=[common], help="say a photo does not show NAME")
    s.add_argument("photo")
    s.add_argument("name")

    s = sub.add_parser("chat", parents=[common], help="the chat in the terminal (stdin lines)")
    s.add_argument("--read-only", action="store_true", help="no naming or renaming")
    s.add_argument("--json", action="store_true", help="one JSON object per reply, per line")

    s = sub.add_parser("serve", parents=[common], help="start the chat (the default)")
    s.add_argument("--library", metavar="DIR", help="index this folder before/while serving")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=7860)
    s.add_argument("--share", action="store_true", help="open a public Gradio link")
    s.add_argument("--auth", action="append", metavar="USER:PASS", help="login (repeatable)")
    s.add_argument("--read-only", action="store_true", help="no naming or renaming in the chat")
    s.add_argument("--demo", action="store_true", help="serve a small demo library")
    return p


def open_library(args: argparse.Namespace, read_only: bool = False, rebuild: bool = False):
    """The Library chosen by --data / PIR_DATA and --clip (a context manager that closes it).

    `rebuild` (indexing only): a catalog lost from a data dir that held one is made anew, and
    the whole catalog is checked for damage before more is written into it.
    """
    from index.library import Library

    return Library(
        args.data,
        clip=args.clip,
        read_only=read_only,
        faces=not getattr(args, "no_faces", False),
        rebuild=rebuild,
        verify=rebuild,
        ocr=False if getattr(args, "no_ocr", False) else None,
    )


class _ProgressBar:
    """A tqdm bar made at the first report (a refused folder prints no empty bar)."""

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, done: int, total: int, what: str) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, unit="photo", file=sys.stderr, dynamic_ncols=True)
        if self.bar.total != total:
            self.bar.reset(total=total)
        self.bar.set_description(what)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        """End the bar's line."""
        if self.bar is not None:
            self.bar.close()


def cmd_index(args: argparse.Namespace) -> int:
    """Index a folder (CLIP and faces, then words in photos), each stage with its own bar."""
    bar, words_bar = _ProgressBar(), _ProgressBar()
    try:
        with open_library(args, rebuild=True) as lib:
            report, text = lib.sync(
                args.folder,
                progress=bar,
                indexed=lambda _report: bar.close(),
                words_progress=words_bar,
                reembed=args.reembed,
                retry_skipped=args.retry_skipped,
            )
    finally:
        bar.close()
        words_bar.close()
    if args.json:
        doc = report.to_json()
        doc["text"] = text.to_json()
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    print(
        f"Indexed {report.root}: {report.new} new, {report.changed} changed, "
        f"{report.moved} moved, {report.removed} removed, {report.unchanged} unchanged, "
        f"{len(report.skipped)} skipped."
    )
    if report.retried:
        print(f"  skipped files read again: {report.retried}")
    if report.redated:
        print(
            f"  photos dated by their XMP, name or folder instead of the file time: {report.redated}"
        )
    if report.companions:
        print(f"  RAW files shown as part of their JPEG or HEIC: {report.companions}")
    if report.embedded or report.faces_done:
        print(
            f"  CLIP vectors made: {report.embedded}; photos checked for faces: {report.faces_done}"
        )
    for path, reason in report.skipped:
        print(f"  skipped {path}: {reason}")
    for path, reason in report.problems:
        print(f"  could not read {path}: {reason}")
    if text.read:
        print(f"  words read in {text.read} photos; text found in {text.with_text}")
    for note in report.notes:
        print(f"Note: {note}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Search by text (parsed) or by example photo; JSON or a readable list."""
    from assistant.query import QueryParser

    with open_library(args) as lib:
        if args.like and not args.text.strip():
            result = lib.search_like(args.like, limit=args.limit)
        else:
            from dataclasses import replace

            parser = QueryParser(lib.people.names(), lib.places(), settings=lib.settings)
            query = parser.parse(args.text)
            if args.limit is not None:
                query = replace(query, limit=args.limit)
            if args.like:  # a photo plus words: "like this one, with Alice"
                query = replace(query, like_photo=args.like)
            result = lib.search(query)
    if args.json:
        doc = {
            "query": result.query.to_json(),
            "hits": [h.to_json() for h in result.hits],
            "notes": list(result.notes),
        }
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    for note in result.notes:
        print(note)
    for n, hit in enumerate(result.hits, 1):
        print(f"{n:3d}. {hit.score:.3f}  {hit.path}")
        if args.explain:
            for reason in hit.reasons:
                print(f"       - {reason}")
            if hit.taken_at:
                print(f"       date: {hit.taken_at.replace('T', ' ')} ({hit.date_note})")
    return 0


def cmd_parse(args: argparse.Namespace) -> int:
    """Print the structured query for a sentence."""
    from assistant.query import QueryParser
    from index.settings import Settings, default_data_dir

    people, places = {}, []
    data_dir = Path(args.data).expanduser() if args.data else default_data_dir()
    if (data_dir / "catalog.sqlite").exists():
        with open_library(args, read_only=True) as lib:
            people, places = lib.people.names(), lib.places()
    query = QueryParser(people, places, settings=Settings.from_env()).parse(args.text)
    print(json.dumps(query.to_json(), ensure_ascii=False, indent=None if not args.json else 2))
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """Print what the library holds."""
    with open_library(args) as lib:
        stats = lib.stats()
    if args.json:
        print(json.dumps(stats, ensure_ascii=False, indent=2))
        return 0
    print(f"data dir: {stats['data_dir']}")
    for key in ("photos", "videos", "skipped", "vectors", "faces", "people", "clusters"):
        print(f"{key}: {stats[key]}")
    if stats["formats"]:
        print("formats: " + ", ".join(f"{k} {n}" for k, n in stats["formats"].items()))
    for model, n in stats["models"]["clip_vectors"].items():
        print(f"clip vectors by {model}: {n}")
    encoder = stats["clip_encoder"]
    print(f"int8 image encoder: {encoder['int8']} ({encoder['why']})")
    face = stats["models"]["face"]
    if face:
        print(f"face model: {face['spec']}")
    return 0


def cmd_duplicates(args: argparse.Namespace) -> int:
    """List groups of copies and near-duplicates, each with the one to keep and why."""
    bar = _ProgressBar()
    try:
        with open_library(args) as lib:
            groups = lib.duplicates(progress=bar)
    finally:
        bar.close()
    if args.json:
        doc = {"groups": [g.to_json() for g in groups]}
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    if not groups:
        print("No duplicates found.")
        return 0
    extra = sum(len(g.members) - 1 for g in groups)
    print(f"{len(groups)} groups of duplicates ({extra} photos beyond the one to keep in each).")
    print("Nothing was deleted or moved.")
    for n, g in enumerate(groups, start=1):
        print(f"\n{n}. {'exact copies' if g.kind == 'exact' else 'near-duplicates'}:")
        for m in g.members:
            mark = "keep" if m.photo_id == g.keep else "    "
            why = g.why if m.photo_id == g.keep else m.why
            print(f"  {mark} {m.path}  ({why})")
    return 0


def cmd_people(args: argparse.Namespace) -> int:
    """List named people with photo counts, then unnamed face groups by size; or export or
    import them (people.json format)."""
    if args.export or args.import_file:
        with open_library(args) as lib:
            if args.export:
                lib.people.export_file(args.export)
                print(f"Saved the people to {args.export}.")
            if args.import_file:
                print(lib.people.import_file(args.import_file).summary())
        return 0
    with open_library(args) as lib:
        people = lib.people.everyone()
    if args.json:
        print(json.dumps([p.to_json() for p in people], ensure_ascii=False, indent=2))
        return 0
    if not people:
        print("No faces found yet: index a folder with photos of people first.")
    for p in people:
        aliases = f" (also {', '.join(p.aliases)})" if p.aliases else ""
        print(f"{p.label}{aliases}: {p.photo_count} photos, {p.face_count} faces")
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _naming_summary(result) -> str:
    joined = f"; {_count(result.joined, 'more face')} joined" if result.joined else ""
    return (
        f"{result.name}: {_count(result.faces, 'face')} in {_count(result.photos, 'photo')}"
        f"{joined}."
    )


def cmd_name(args: argparse.Namespace) -> int:
    """Name the person in a photo (and the whole group of faces like it)."""
    with open_library(args) as lib:
        print(_naming_summary(lib.people.name_face(args.photo, args.name, args.face)))
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    """Rename a person."""
    with open_library(args) as lib:
        print(_naming_summary(lib.people.rename(args.old, args.new)))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    """Merge person A into person B."""
    with open_library(args) as lib:
        print(_naming_summary(lib.people.merge(args.a, args.b)))
    return 0


def cmd_alias(args: argparse.Namespace) -> int:
    """Give a person another name."""
    with open_library(args) as lib:
        lib.people.add_alias(args.name, args.alias)
    print(f"{args.alias} now also means {args.name}.")
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    """Forget a person's name and every assignment."""
    with open_library(args) as lib:
        lib.people.forget(args.name)
    print(f"Forgot {args.name}; their faces are unnamed again.")
    return 0


def cmd_unassign(args: argparse.Namespace) -> int:
    """Say that a photo does not show NAME."""
    with open_library(args) as lib:
        lib.people.unassign(args.photo, args.name)
    print(f"Noted: {args.name} is not in {args.photo}.")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    """The chat in the terminal: one message per line of standard input, one reply each."""
    from assistant import terminal
    from assistant.conversation import Assistant

    with open_library(args, read_only=args.read_only) as lib:
        assistant = Assistant(lib, read_only=args.read_only)
        messages = terminal.typed("> ") if sys.stdin.isatty() else sys.stdin
        return terminal.chat(assistant, messages, sys.stdout, as_json=args.json)


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the chat in the browser (the default command)."""
    from assistant.server import serve

    return serve(args)


COMMANDS = {
    "index": cmd_index,
    "search": cmd_search,
    "parse": cmd_parse,
    "stats": cmd_stats,
    "serve": cmd_serve,
    "chat": cmd_chat,
    "people": cmd_people,
    "duplicates": cmd_duplicates,
    "name": cmd_name,
    "rename": cmd_rename,
    "merge": cmd_merge,
    "alias": cmd_alias,
    "forget": cmd_forget,
    "unassign": cmd_unassign,
}


def command_given(argv: list[str], parser: argparse.ArgumentParser) -> str | None:
    """The command word of `argv`: its first word that is neither a flag nor a flag's value.

    So `app.py --library people` serves a folder called "people" rather than listing people.
    """
    takes_value = set()
    for action in parser._actions:  # the top level's flags, then every command's
        subparsers = action.choices.values() if isinstance(action.choices, dict) else ()
        for sub in [parser, *subparsers]:
            for a in sub._actions:
                if a.option_strings and a.nargs != 0:
                    takes_value.update(a.option_strings)
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--":
            return None
        elif word.startswith("-"):
            skip = word in takes_value  # "--data=D" carries its own value
        else:
            return word
    return None


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The parsed command line; without a command word, `serve` (`python app.py [flags]`)."""
    parser = build_parser()
    word = command_given(argv, parser)
    if word not in COMMANDS and not (word is None and {"-h", "--help"} & set(argv)):
        argv = ["serve", *argv]
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors print a message to stderr and exit non-zero."""
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    command = args.command
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    # Arguments and file names that are not valid UTF-8 reach Python as lone surrogates;
    # print them as escapes (which JSON readers decode back) rather than crash on them.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        code = COMMANDS[command](args)
        sys.stdout.flush()  # a reader that stopped early shows here, not as a trace at exit
        return code
    except BrokenPipeError:
        # `app.py people | head -2`: the reader had enough; nothing failed on our side. Later
        # writes (Python's own flush at exit) go nowhere instead of raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except PirError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as err:  # damage deeper than the checks at opening reach
        print(f"error: {damaged_message(_catalog_path(args), str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to continue.", file=sys.stderr)
        return 130


def _catalog_path(args: argparse.Namespace) -> Path:
    from index.settings import default_data_dir

    data_dir = Path(args.data).expanduser() if getattr(args, "data", None) else default_data_dir()
    return data_dir / CATALOG_NAME


if __name__ == "__main__":
    sys.exit(main())
