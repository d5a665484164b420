"""The command line as a user meets it: normal flows and every kind of bad input.

One small library of real face photos is built once for the module (`index` in its own
process), then the commands run in one more process through `app.main` (each a fresh
argv, stdout and stderr captured apart) so the imports are paid once. Real faces and the
real face model give meaning to "photos of Kit"; the tiny random CLIP model only carries
the plumbing of text search, never its meaning.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = {  # copied name -> source, relative to the evaluation face photos
    "kit/1.jpg": "kit_harington/1.jpg",
    "kit/2.jpg": "kit_harington/2.jpg",
    "kit/3.jpg": "kit_harington/3.jpg",
    "angelina/1.jpg": "angelina/1.jpg",
    "angelina/2.jpg": "angelina/2.jpg",
    "angelina/3.jpg": "angelina/3.jpg",
    "angelina/4.jpg": "angelina/4.jpg",
    "group.jpg": "_groups/fr_kit_with_rose.jpg",  # two faces: Rose left, Kit right
    "dog.jpg": "_nofaces/dlib_dog.jpg",
}
LONG = "a" * 10_000

# Runs each argv through app.main in this one process; prints one JSON list of results.
DRIVER = r"""
import contextlib, io, json, sys, traceback
sys.path.insert(0, sys.argv[1])
import app
results = {}
for key, argv in json.load(sys.stdin):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = app.main(argv)
        except SystemExit as ex:  # argparse refusing an argument
            rc = ex.code if isinstance(ex.code, int) else 1
        except BaseException:
            traceback.print_exc()
            rc = "crashed"
    results[key] = {"rc": rc, "out": out.getvalue(), "err": err.getvalue()}
print(json.dumps(results))
"""


def cli_env(data: Path) -> dict[str, str]:
    return {**os.environ, "PIR_DATA": str(data), "HF_HUB_OFFLINE": "1", "PYTHONUTF8": "0"}


def run_cli(args: list, data: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """One real `python app.py ...` process (args may be bytes, as a shell passes them)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), *args],
        cwd=ROOT,
        env=cli_env(data),
        capture_output=True,
        timeout=timeout,
    )


def run_batch(steps: list[tuple[str, list[str]]], data: Path) -> dict[str, dict]:
    """Run many commands in one process, in order; results by key."""
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(ROOT)],
        input=json.dumps(steps),
        cwd=ROOT,
        env=cli_env(data),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


# --- the library and everything the user does to it, once per module ---


def steps(lib: Path, data: Path, tiny: str) -> list[tuple[str, list[str]]]:
    p = {name: str(lib / name) for name in PHOTOS}
    text_file = str(lib.parent / "notes.jpg")
    outside = str(lib.parent / "outside.jpg")
    s: list[tuple[str, list[str]]] = [
        ("name_several_faces", ["name", p["group.jpg"], "Kit"]),
        ("name_kit", ["name", p["kit/1.jpg"], "Kit"]),
        ("name_angelina", ["name", p["angelina/1.jpg"], "Angelina"]),
        ("people_before", ["people", "--json"]),
    ]
    # Issue 3, bad input: each refused on stderr, nothing changed (people_after).
    bad_people = {
        "unknown_rename": ["rename", "Nobody", "Zed"],
        "unknown_merge_from": ["merge", "Nobody", "Kit"],
        "unknown_merge_into": ["merge", "Kit", "Nobody"],
        "unknown_forget": ["forget", "Nobody"],
        "unknown_unassign": ["unassign", p["kit/1.jpg"], "Nobody"],
        "unknown_alias": ["alias", "Nobody", "Zed"],
        "photo_missing": ["name", str(lib / "nothere.jpg"), "Zed"],
        "photo_outside": ["name", outside, "Zed"],
        "photo_undecodable_name": ["name", str(lib) + "/caf\udcff.jpg", "Zed"],
        "face_9": ["name", p["group.jpg"], "Zed", "--face", "9"],
        "face_0": ["name", p["group.jpg"], "Zed", "--face", "0"],
        "no_face": ["name", p["dog.jpg"], "Zed"],
        "not_in_photo": ["unassign", p["dog.jpg"], "Kit"],
        "same_name_rename": ["rename", "Angelina", "Kit"],
        "same_name_other_case": ["rename", "Angelina", " kit "],
        "same_name_alias": ["alias", "Angelina", "Kit"],
        "same_person_merge": ["merge", "Kit", "kit"],
        "empty_name": ["rename", "Angelina", ""],
        "blank_name": ["rename", "Angelina", "   "],
        "tab_in_name": ["rename", "Angelina", "Angie\tJolie"],
        "newline_in_name": ["name", p["angelina/2.jpg"], "Angie\nJolie"],
        "escape_in_name": ["alias", "Angelina", "\x1b[31mred"],
        "label_as_name": ["rename", "Angelina", "person 3"],
        "long_rename": ["rename", "Angelina", LONG],
        "long_name": ["name", p["kit/2.jpg"], LONG],
        "long_alias": ["alias", "Kit", LONG],
        "long_unknown": ["merge", LONG, "Kit"],
    }
    s += [(f"bad3:{k}", v) for k, v in bad_people.items()]
    s.append(("people_after", ["people", "--json"]))
    # Issue 4, bad input: a helpful answer in plain text and in JSON, never a traceback.
    for k, q in BAD_QUERIES.items():
        s += [(f"bad4:{k}", ["search", q]), (f"bad4json:{k}", ["search", q, "--json"])]
        s.append((f"parse:{k}", ["parse", q, "--json"]))
    s += [
        ("limit_0", ["search", "photos of Kit", "--limit", "0"]),
        ("explain", ["search", "photos of Angelina", "--explain"]),
        ("like_library", ["search", "--like", p["kit/2.jpg"], "--json"]),
        ("like_outside", ["search", "--like", outside, "--json"]),
        ("like_not_image", ["search", "--like", text_file]),
        ("like_missing", ["search", "--like", str(lib / "nothere.jpg")]),
        # Issue 2: stats, a file instead of a folder, unusable --data and --clip.
        ("stats", ["stats"]),
        ("stats_json", ["stats", "--json"]),
        ("stats_data_first", ["--data", str(data), "stats", "--json"]),
        ("stats_data_elsewhere", ["--data", str(data.parent / "elsewhere"), "stats", "--json"]),
        ("index_file", ["index", p["dog.jpg"]]),
        ("data_read_only", ["stats", "--data", "/sys/pir-test"]),
        ("clip_empty", ["stats", "--clip", ""]),
    ]
    one = str(lib / "kit")
    for key, spec in (("clip_unknown", "nonsense-model/xyz"), ("clip_no_dir", "local-dir:/nope")):
        other = str(data.parent / key)
        s.append((key, ["index", one, "--data", other, "--clip", spec, "--no-faces"]))
        s.append((f"{key}_stats", ["stats", "--json", "--data", other]))
    # Issue 3, the normal flows, in the order a user would go.
    s += [
        ("alias", ["alias", "Kit", "Christopher"]),
        ("search_alias", ["search", "photos of christopher", "--json"]),
        ("rename", ["rename", "Kit", "Kitty"]),
        ("search_renamed", ["search", "photos of Kitty", "--json"]),
        ("unassign", ["unassign", p["kit/2.jpg"], "Kitty"]),
        ("search_unassigned", ["search", "photos of Kitty", "--json"]),
        ("merge", ["merge", "Angelina", "Kitty"]),
        ("people_merged", ["people", "--json"]),
        ("forget", ["forget", "Kitty"]),
        ("people_forgotten", ["people", "--json"]),
        ("people_plain", ["people"]),
    ]
    return s


BAD_QUERIES = {
    "empty": "",
    "blank": "   ",
    "long": "beach " * 1700,
    "punctuation": "?!?...",
    "emoji": "\U0001f642\U0001f389",
    "unknown_name": "Zebulon",
    "contradiction": "Angelina without Angelina",
    "future_year": "Angelina in 2099",
    "next_year": "photos from next year",
    "no_such_place": "photos in Atlantis",
    "undecodable": "caf\udcff",
}


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory, tiny_clip_spec: str, eval_faces: Path) -> dict:
    """The library indexed by `index`, then the results of every command of `steps`."""
    root = tmp_path_factory.mktemp("cli")
    lib, data = root / "photos", root / "data"
    for name, source in PHOTOS.items():
        (lib / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(eval_faces / source, lib / name)
    shutil.copy(eval_faces / "kit_harington" / "2.jpg", root / "outside.jpg")
    (root / "notes.jpg").write_text("not a photo")
    index = run_cli(["index", str(lib), "--clip", tiny_clip_spec], data)
    results = run_batch(steps(lib, data, tiny_clip_spec), data)
    results["index"] = {
        "rc": index.returncode,
        "out": index.stdout.decode(),
        "err": index.stderr.decode(),
    }
    return {"results": results, "lib": lib, "data": data}


def hits(result: dict, lib: Path) -> list[str]:
    """The hit paths of a `search --json`, relative to the library folder."""
    doc = json.loads(result["out"])
    return [Path(os.path.relpath(h["path"], os.path.realpath(lib))).as_posix() for h in doc["hits"]]


def refused(result: dict) -> bool:
    return result["rc"] not in (0, "crashed") and result["out"] == "" and result["err"].strip()


# --- issue 2 ---


def test_index_catalogues_every_photo_and_prints_a_summary(cli):
    r = cli["results"]["index"]
    assert r["rc"] == 0, r["err"]
    assert f"{len(PHOTOS)} new" in r["out"] and "0 skipped" in r["out"]
    assert "Traceback" not in r["err"]


def test_stats_reports_photos_faces_and_models_in_text_and_json(cli):
    r = cli["results"]
    assert r["stats"]["rc"] == 0 and f"photos: {len(PHOTOS)}" in r["stats"]["out"]
    doc = json.loads(r["stats_json"]["out"])
    assert doc["photos"] == len(PHOTOS) and doc["vectors"] == len(PHOTOS)
    assert doc["faces"] >= len(PHOTOS) - 1  # every photo but the dog has a face
    assert doc["models"]["clip"]["spec"].startswith("local-dir:")
    assert doc["data_dir"] == str(cli["data"])


def test_common_flags_work_before_the_command_name(cli):
    r = cli["results"]
    assert json.loads(r["stats_data_first"]["out"])["photos"] == len(PHOTOS)
    elsewhere = json.loads(r["stats_data_elsewhere"]["out"])
    assert elsewhere["photos"] == 0 and elsewhere["data_dir"].endswith("elsewhere")


def test_index_of_a_file_says_it_needs_a_folder(cli):
    r = cli["results"]["index_file"]
    assert refused(r) and "not a folder" in r["err"]
    assert "photo/s" not in r["err"]  # no empty progress bar before the refusal


def test_read_only_data_dir_is_refused_with_what_to_do(cli):
    if not Path("/sys").is_dir():
        pytest.skip("no /sys on this system to stand for a read-only path")
    r = cli["results"]["data_read_only"]
    assert refused(r) and "/sys/pir-test" in r["err"] and "--data" in r["err"]


def test_empty_clip_spec_is_refused_not_taken_for_the_default(cli):
    r = cli["results"]["clip_empty"]
    assert refused(r) and "Empty CLIP model name" in r["err"]


def test_unloadable_clip_spec_still_catalogues_and_says_why(cli):
    for key, words in (("clip_unknown", "nonsense-model"), ("clip_no_dir", "/nope")):
        r = cli["results"][key]
        assert r["rc"] == 0 and "3 new" in r["out"], r
        assert "text search needs the model" in r["out"] and words in r["out"]
        stats = json.loads(cli["results"][f"{key}_stats"]["out"])
        assert stats["photos"] == 3 and stats["vectors"] == 0
        assert stats["models"]["clip"] is None  # the bad spec is not recorded as the model


# --- issue 3 ---


def test_naming_a_photo_with_several_faces_lists_them_and_asks_which(cli):
    r = cli["results"]["name_several_faces"]
    assert refused(r)
    assert "2 faces" in r["err"] and "face 1" in r["err"] and "--face 1 to --face 2" in r["err"]


def test_every_bad_people_command_is_refused_on_stderr_and_changes_nothing(cli):
    r = cli["results"]
    bad = {k: v for k, v in r.items() if k.startswith("bad3:")}
    assert len(bad) >= 25
    for key, result in bad.items():
        assert refused(result), (key, result)
        assert "Traceback" not in result["err"], key
        assert len(result["err"]) < 400, key  # a 10,000-character name is not echoed back
    assert json.loads(r["people_after"]["out"]) == json.loads(r["people_before"]["out"])


def test_bad_people_messages_say_what_is_wrong(cli):
    err = {k[5:]: v["err"] for k, v in cli["results"].items() if k.startswith("bad3:")}
    assert 'Nobody called "Nobody"' in err["unknown_rename"] and "Kit" in err["unknown_rename"]
    assert "not a photo in this library" in err["photo_missing"]
    assert "not a photo in this library" in err["photo_outside"]
    assert "no face 9" in err["face_9"] and "has 2 faces" in err["face_9"]
    assert "No face was found" in err["no_face"]
    assert "Kit is not in" in err["not_in_photo"]
    for key in ("same_name_rename", "same_name_other_case", "same_name_alias"):
        assert "already belongs to another person" in err[key], key
    assert "cannot be empty" in err["empty_name"] and "cannot be empty" in err["blank_name"]
    for key in ("tab_in_name", "newline_in_name", "escape_in_name"):
        assert "control characters" in err[key], key
    for key in ("long_rename", "long_name", "long_alias"):
        assert "too long" in err[key], key
    assert "1 or more" in err["face_0"]


def test_people_lists_named_people_then_unnamed_groups(cli):
    people = json.loads(cli["results"]["people_before"]["out"])
    named = {p["name"]: p for p in people if p["name"]}
    assert set(named) == {"Angelina", "Kit"}
    assert named["Kit"]["photos"] >= 3  # kit/1..3 and the group photo: naming one named all
    assert [p["name"] for p in people[:2]] == ["Angelina", "Kit"]  # named first, by name


def test_photos_of_a_person_by_alias_and_new_name_find_their_photos(cli):
    r = cli["results"]
    for key in ("search_alias", "search_renamed"):
        found = hits(r[key], cli["lib"])
        assert {"kit/1.jpg", "kit/2.jpg", "kit/3.jpg"} <= set(found), (key, found)
        assert not any(h.startswith("angelina/") or h == "dog.jpg" for h in found)
    assert json.loads(r["search_renamed"]["out"])["query"]["people_all"] == ["Kitty"]


def test_unassigned_photo_leaves_the_person(cli):
    r = cli["results"]
    assert r["unassign"]["rc"] == 0
    found = hits(r["search_unassigned"], cli["lib"])
    assert "kit/2.jpg" not in found and "kit/1.jpg" in found


def test_merge_then_forget_leave_no_name_behind(cli):
    r = cli["results"]
    assert r["merge"]["rc"] == 0 and r["forget"]["rc"] == 0
    merged = {p["name"]: p for p in json.loads(r["people_merged"]["out"]) if p["name"]}
    assert set(merged) == {"Kitty"}
    assert {"Angelina", "Christopher"} <= set(merged["Kitty"]["aliases"])
    people = json.loads(r["people_forgotten"]["out"])
    assert people and all(p["name"] is None for p in people)
    assert "person " in r["people_plain"]["out"]


def test_naming_summary_counts_in_words():
    from types import SimpleNamespace

    import app

    one = SimpleNamespace(name="Kit", faces=1, photos=1, joined=0)
    assert app._naming_summary(one) == "Kit: 1 face in 1 photo."
    many = SimpleNamespace(name="Kit", faces=4, photos=3, joined=2)
    assert app._naming_summary(many) == "Kit: 4 faces in 3 photos; 2 more faces joined."


# --- issue 4 ---


@pytest.mark.parametrize("key", list(BAD_QUERIES))
def test_bad_queries_get_a_helpful_answer_in_text_and_json(cli, key):
    r = cli["results"]
    plain, doc_r, parsed = r[f"bad4:{key}"], r[f"bad4json:{key}"], r[f"parse:{key}"]
    for result in (plain, doc_r, parsed):
        assert result["rc"] == 0 and "Traceback" not in result["err"], (key, result)
    doc = json.loads(doc_r["out"])  # one JSON document on stdout
    assert set(doc) >= {"query", "hits", "notes"}
    assert doc["notes"] or doc["hits"], key
    assert plain["out"].strip(), key
    assert all(len(n) < 1000 for n in doc["notes"]), key
    assert json.loads(parsed["out"])["raw"] == BAD_QUERIES[key]


def test_bad_queries_say_what_the_trouble_is(cli):
    out = {k[5:]: v["out"] for k, v in cli["results"].items() if k.startswith("bad4:")}
    for key in ("empty", "blank", "punctuation", "emoji"):
        assert "Tell me what to look for" in out[key], key
    assert "don't know anyone called Zebulon" in out["unknown_name"]
    assert "both in and out" in out["contradiction"]
    assert "2099 is in the future" in out["future_year"]
    assert "Next year is in the future" in out["next_year"]


def test_zero_limit_is_refused(cli):
    r = cli["results"]["limit_0"]
    assert refused(r) and "--limit" in r["err"]


def test_explain_prints_the_reason_under_each_hit(cli):
    lines = cli["results"]["explain"]["out"].splitlines()
    assert lines and "angelina/1.jpg" in "\n".join(lines)
    assert any(line.strip().startswith("- Angelina (face 1") for line in lines)
    hit_lines = [i for i, line in enumerate(lines) if line.lstrip()[:1].isdigit()]
    assert all(lines[i + 1].strip().startswith("- ") for i in hit_lines)


def test_search_like_takes_a_library_photo_or_any_image_file(cli):
    r = cli["results"]
    for key in ("like_library", "like_outside"):
        assert r[key]["rc"] == 0, r[key]
        doc = json.loads(r[key]["out"])
        assert "kit/2.jpg" not in hits(r["like_library"], cli["lib"])  # never the photo itself
        # Too few photos to judge a match "not good": the most alike are always shown.
        assert doc["hits"], (key, doc["notes"])
    assert json.loads(r["like_library"]["out"])["query"]["like_photo"].endswith("kit/2.jpg")


def test_search_like_refuses_a_non_image_and_a_missing_photo(cli):
    r = cli["results"]
    assert refused(r["like_not_image"]) and "cannot be used" in r["like_not_image"]["err"]
    assert refused(r["like_missing"]) and "not a photo" in r["like_missing"]["err"]


def test_arguments_that_are_not_utf8_get_answers_not_tracebacks(cli):
    # A real process, with the raw bytes a shell in another encoding would pass.
    found = run_cli(["search", b"caf\xff", "--json"], cli["data"])
    assert found.returncode == 0, found.stderr.decode()[-2000:]
    assert json.loads(found.stdout)["query"]["raw"] == "caf\udcff"
    missing = run_cli(["name", b"/tmp/caf\xff.jpg", "Zed"], cli["data"])
    assert missing.returncode == 2 and b"Traceback" not in missing.stderr
    assert b"not a photo in this library" in missing.stderr


def test_app_without_a_command_serves_with_the_flags_given(monkeypatch):
    import app

    seen = []
    monkeypatch.setitem(app.COMMANDS, "serve", lambda args: seen.append(args) or 0)
    assert app.main(["--data", "/tmp/somewhere", "--port", "7999", "--read-only"]) == 0
    assert app.main([]) == 0
    first, bare = seen
    assert (first.command, first.data, first.port, first.read_only) == (
        "serve",
        "/tmp/somewhere",
        7999,
        True,
    )
    assert (bare.command, bare.port) == ("serve", 7860)


def test_a_library_folder_named_like_a_command_is_served():
    import app

    for argv in (["--library", "people"], ["--library=people"], ["serve", "--library", "people"]):
        args = app.parse_args(argv)
        assert (args.command, args.library) == ("serve", "people"), argv
    assert app.parse_args(["--data", "people", "people"]).command == "people"
    assert app.parse_args(["search", "people"]).text == "people"
