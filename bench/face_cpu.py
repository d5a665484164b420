"""CPU milliseconds per photo of the face stage alone, checkouts taking turns.

    python bench/face_cpu.py [--checkout DIR ...] [--photos DIR] [--rounds N] [--out FILE]

Each `--checkout` (default: this one; e.g. a `git worktree add --detach` of an older commit)
runs, in a process of its own with its own code and one torch thread (as each of the
indexer's two decode workers does), what the face stage does for every photo: the shared
decode (`scan.decode` at the face stage's size) and `FaceStage.analyze` (MTCNN, the detailed
decode of a photo with faces, the face vectors, the crops' JPEGs), models loaded and five
photos analysed first. The checkouts take turns (A, B, A, B, ...) so that load drifting
through the run falls on each alike; CPU time (`time.process_time()`) says how much work a
photo costs when others share the cores. The faces found are counted too. Last line: one
JSON object (also written to FILE when given).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _common import ROOT, eval_dir
from index_cpu import commit_of, cpu_figures, run_child

CHILD = r"""
import json, os, sys, time
from pathlib import Path
sys.path.insert(0, os.getcwd())
import torch
torch.set_num_threads(1)
from index.face_stage import FaceStage
from index.scan import decode
from index.settings import Settings

settings = Settings()
stage = FaceStage(settings)
raw = [p.read_bytes() for p in sorted(Path(sys.argv[1]).iterdir()) if p.is_file()]
for data in raw[:5]:
    stage.analyze(decode(data, settings, size=stage.decode_size))
faces = 0
cpu = time.process_time()
for data in raw:
    faces += len(stage.analyze(decode(data, settings, size=stage.decode_size))[1])
cpu = time.process_time() - cpu
print(json.dumps({"photos": len(raw), "faces": faces,
                  "cpu_ms_per_photo": round(cpu / len(raw) * 1000, 1),
                  "load_avg_1m": round(os.getloadavg()[0], 2)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkout", action="append", type=Path, help="repeat to compare")
    ap.add_argument("--photos", type=Path, default=eval_dir("captions/images"))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    checkouts = [c.resolve() for c in args.checkout or [ROOT]]
    names = {c: commit_of(c) for c in checkouts}
    runs: dict[str, list[dict]] = {names[c]: [] for c in checkouts}
    for r in range(args.rounds):
        for checkout in checkouts:
            run = run_child([sys.executable, "-c", CHILD, str(args.photos)], checkout)
            runs[names[checkout]].append(run)
            print(f"round {r + 1} {names[checkout]}: {json.dumps(run)}", flush=True)
    cpu_figures(runs, args.out, photos=args.photos.name)


if __name__ == "__main__":
    main()
