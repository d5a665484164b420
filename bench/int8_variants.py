"""int8 image towers compared: how each is quantised, which engine runs it, cost and drift.

    python bench/int8_variants.py [--photos DIR] [--rounds N] [--out FILE]

The ViT-B-32 image tower (random weights: the same compute as trained ones) is exported once;
each variant is quantised with ONNX Runtime's quantiser from the first 32 photos, as
`index/models/encoders.py` does, and checked against fp32 on all of them (smallest cosine:
the product keeps int8 only at >= 0.99). Then every tower runs in ONNX Runtime and in
OpenVINO, taking turns batch by batch (16 photos) on the first 64 photos, N rounds: CPU
milliseconds per photo (this process's, every thread's: the work, whatever else runs on the
machine) and photos/s (wall clock, which other work on the cores distorts).
The last line printed is one JSON object, also written to FILE
(default bench/results/int8_variants.json).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, eval_dir

from index import scan
from index.models import ClipModel, encoders
from index.random_clip import save_random_vit_b_32
from index.settings import Settings


def variants() -> dict:
    """Name -> how the tower is built (a quantiser and its arguments)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat

    static = encoders.quantise_static
    return {
        "static (shipped: QDQ, weights per channel, MinMax)": (static, {}),
        "static, weights per tensor": (static, {"per_channel": False}),
        "static, QOperator format": (static, {"quant_format": QuantFormat.QOperator}),
        "static, products' outputs left fp32": (
            static,
            {
                "extra_options": {
                    "MatMulConstBOnly": True,
                    "OpTypesToExcludeOutputQuantization": ["MatMul", "Conv", "Gemm"],
                }
            },
        ),
        "static, Percentile calibration": (
            static,
            {"calibrate_method": CalibrationMethod.Percentile},
        ),
        "static, MatMul only (no Conv, Gemm)": (static, {"op_types_to_quantize": ["MatMul"]}),
        "dynamic (shipped second choice)": (encoders.quantise_dynamic, {}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=eval_dir("captions/images"))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS / "int8_variants.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = save_random_vit_b_32(tmp / "vit")
        settings = Settings(clip_backend="onnxruntime", clip_int8=False)
        clip = ClipModel(spec, backend="onnxruntime", cache_dir=tmp / "enc", settings=settings)
        clip.load()
        folder, threads = clip._exported.folder, clip._exported.threads
        found = scan.walk(args.photos).found
        pixels = np.stack([clip.preprocess(scan.open_rgb(f.path)).numpy() for f in found])
        fp32 = folder / "image.onnx"
        reference = encoders.Runtime("onnxruntime", fp32, threads)
        ref = np.vstack([reference(pixels[i : i + 16]) for i in range(0, len(pixels), 16)])
        runners = {f"fp32 / {e}": encoders.Runtime(e, fp32, threads) for e in encoders.RUNTIMES}
        built = {}
        for k, (name, (quantise, how)) in enumerate(variants().items()):
            path = folder / f"variant{k}.int8.onnx"
            started = time.process_time()
            try:
                quantise(fp32, path, pixels[:32], **how)
            except Exception as err:  # noqa: BLE001 - a quantiser refusing a variant is a result
                built[name] = {"built": f"failed: {type(err).__name__}: {str(err)[:120]}"}
                continue
            built[name] = {"build_cpu_s": round(time.process_time() - started, 1)}
            for engine in encoders.RUNTIMES:
                try:
                    tower = encoders.Runtime(engine, path, threads)
                    out = np.vstack([tower(pixels[i : i + 16]) for i in range(0, len(pixels), 16)])
                except Exception as err:  # noqa: BLE001 - an engine refusing a format is a result
                    built[name][engine] = f"failed: {type(err).__name__}: {str(err)[:120]}"
                    continue
                built[name][f"min_cosine_{engine}"] = round(encoders.min_cosine(out, ref), 6)
                runners[f"{name} / {engine}"] = tower
            print(name, built[name], flush=True)
        batches = [pixels[i : i + 16] for i in range(0, min(64, len(pixels)), 16)]
        for run in runners.values():
            run(batches[0])  # warm-up
        cpu, wall = dict.fromkeys(runners, 0.0), dict.fromkeys(runners, 0.0)
        names = list(runners)
        for r in range(args.rounds):
            for k, batch in enumerate(batches):
                first = (r * len(batches) + k) % len(names)  # who goes first rotates
                for name in names[first:] + names[:first]:
                    c, w = time.process_time(), time.perf_counter()
                    runners[name](batch)
                    cpu[name] += time.process_time() - c
                    wall[name] += time.perf_counter() - w
        n = args.rounds * sum(len(b) for b in batches)
        base = cpu["fp32 / onnxruntime"]
        timings = {
            name: {
                "cpu_ms_per_photo": round(1000 * cpu[name] / n, 2),
                "cpu_speedup_over_ort_fp32": round(base / cpu[name], 3),
                "photos_per_s": round(n / wall[name], 2),
            }
            for name in names
        }
        for name, t in timings.items():
            print(
                f"  {name:60s} {t['cpu_ms_per_photo']:7.2f} CPU ms/photo  "
                f"x{t['cpu_speedup_over_ort_fp32']:.2f}  {t['photos_per_s']:6.1f} photos/s"
            )
    figures = {
        "photos_checked": len(pixels),
        "photos_timed": n,
        "rounds": args.rounds,
        "threads": threads,
        "variants": built,
        "timings": timings,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    args.out.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
