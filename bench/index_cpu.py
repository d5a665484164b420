"""CPU seconds per photo of a whole `index` run, checkouts taking turns: is it more work?

    python bench/index_cpu.py [--checkout DIR ...] [--photos DIR] [--large N] [--faces]
                              [--rounds N] [--out FILE]

On a machine others share, wall-clock photos/s say more about the load than about the
code; the CPU time of the indexing process (every thread's, `time.process_time()`) says how
much work a photo costs. Each `--checkout` (default: this one; e.g. a `git worktree add
--detach` of an older commit) indexes the same photos in a process of its own, with that
checkout's code, and the checkouts take turns (A, B, A, B, ...) so that load drifting
through the run falls on each alike. Models are loaded, and six warm-up photos indexed,
before the timed run (model loading is not indexing). Wall time is kept beside for a quiet
machine. `--large N` indexes camera-sized (4000×3000 JPEG) copies of the first N photos
instead, as `bench/index_throughput.py --large N` does. A checkout given as
`DIR@PIR_NAME=VALUE,...` runs with those settings (the same code, another setting: e.g.
`--checkout . --checkout .@PIR_FACE_DETECT_MIN_PX=32`). Last line: one JSON object (also
written to FILE when given).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, eval_dir

# Run in the child with the checkout's own `index` package; uses only what every version
# since the stage rewrite offers (Library(data, clip=, settings=, faces=), index(folder)).
CHILD = r"""
import json, os, shutil, sys, time
from pathlib import Path
sys.path.insert(0, os.getcwd())
from index.library import Library
from index.random_clip import save_random_vit_b_32
from index.settings import Settings

work, photos, warm, faces = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == "1"
settings = Settings(clip_backend="auto")
spec_file = work / "spec.txt"
if not spec_file.exists():
    spec_file.write_text(save_random_vit_b_32(work / "vit-b-32-random"))
spec = spec_file.read_text()
encoders = work / "encoders"
if not encoders.exists():  # first use: export, int8 built and checked on the first photos
    encoders.mkdir()
    first = work / "first-photos"
    first.mkdir()
    for f in sorted(photos.iterdir())[: settings.clip_calibration_photos]:
        shutil.copy(f, first / f.name)
    (work / "data-first").mkdir()
    (work / "data-first" / "encoders").symlink_to(encoders, target_is_directory=True)
    lib = Library(work / "data-first", clip=spec, settings=settings, faces=False)
    lib.index(first)
    lib.close()
data = work / f"data-{os.getpid()}"
data.mkdir()
(data / "encoders").symlink_to(encoders, target_is_directory=True)
lib = Library(data, clip=spec, settings=settings, faces=faces)
lib.clip.load()
lib.index(warm)
cpu, wall = time.process_time(), time.perf_counter()
report = lib.index(photos)
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
n = report.embedded
print(json.dumps({"photos": n, "cpu_ms_per_photo": round(cpu / n * 1000, 1),
                  "wall_ms_per_photo": round(wall / n * 1000, 1),
                  "photos_with_faces": getattr(report, "found", {}).get("faces", 0),
                  "encoder": lib.clip.image_backend, "load_avg_1m": round(os.getloadavg()[0], 2)}))
lib.close()
shutil.rmtree(data, ignore_errors=True)
"""


def commit_of(checkout: Path) -> str:
    """The checkout's commit, short, with "+changes" when its tracked files were edited."""
    git = ["git", "-C", str(checkout)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD"]).returncode != 0
    return (head.stdout.strip() or checkout.name) + ("+changes" if dirty else "")


def run_child(argv: list[str], folder: Path, settings: dict[str, str] | None = None) -> dict:
    """Run a measuring child with `folder`'s code (and PIR_ `settings`): its last line, as JSON."""
    out = subprocess.run(
        argv,
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(folder), **(settings or {})},
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    return json.loads(out.splitlines()[-1])


def cpu_figures(runs: dict[str, list[dict]], out: Path | None, **about) -> None:
    """Print (and with `out`, save) the runs and each checkout's mean CPU ms per photo."""
    mean = {c: round(sum(x["cpu_ms_per_photo"] for x in v) / len(v), 1) for c, v in runs.items()}
    figures = {**about, "runs": runs, "cpu_ms_per_photo": mean}
    if out:
        out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures))


def checkout_and_env(arg: str) -> tuple[Path, tuple[tuple[str, str], ...]]:
    """(checkout folder, the PIR_ settings it runs with) of a `DIR[@PIR_X=V,...]` argument."""
    folder, _, settings = arg.partition("@")
    pairs = tuple(tuple(kv.split("=", 1)) for kv in settings.split(",") if kv)
    for pair in pairs:
        if len(pair) != 2 or not pair[0].startswith("PIR_"):
            raise SystemExit(f"--checkout {arg}: give settings as PIR_NAME=VALUE, comma-separated")
    return Path(folder).resolve(), pairs  # type: ignore[return-value]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkout", action="append", help="DIR[@PIR_X=V,...]; repeat to compare")
    ap.add_argument("--photos", type=Path, default=eval_dir("captions/images"))
    ap.add_argument("--large", type=int, default=0, help="camera-sized copies of N photos")
    ap.add_argument("--faces", action="store_true")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    checkouts = [checkout_and_env(c) for c in args.checkout or [str(ROOT)]]
    names = {c: commit_of(c[0]) + "".join(f" {k}={v}" for k, v in c[1]) for c in checkouts}
    runs: dict[str, list[dict]] = {names[c]: [] for c in checkouts}
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from index_throughput import large_copies, warm_up_photos

        warm = warm_up_photos(Path(tmp))
        photos = args.photos
        if args.large:
            photos = large_copies(args.photos, Path(tmp) / "large", args.large)
        for r in range(args.rounds):
            for k, checkout in enumerate(checkouts):
                work = Path(tmp) / f"checkout-{k}"  # its own export (its own int8 build)
                work.mkdir(exist_ok=True)
                argv = [sys.executable, "-c", CHILD, str(work), str(photos), str(warm)]
                folder, settings = checkout
                run = run_child([*argv, "1" if args.faces else "0"], folder, dict(settings))
                runs[names[checkout]].append(run)
                print(f"round {r + 1} {names[checkout]}: {json.dumps(run)}", flush=True)
    cpu_figures(runs, args.out, photos=args.photos.name, large=args.large, faces=args.faces)


if __name__ == "__main__":
    main()
