"""Indexing throughput: the whole pipeline against the torch CLIP forward pass, same photos.

    python bench/index_throughput.py [--photos DIR] [--large N] [--faces] [--no-ocr] [--repeats N]
    python bench/index_throughput.py --video [--out bench/results/index_throughput_video.json]

Uses the real ViT-B-32 architecture with random weights (same compute as trained ones).
Every goal is a ratio to the torch fp32 forward pass measured in the same run; where two
encoders are compared, their batches are interleaved so a busy machine slows both alike, and
each indexing run is divided by the forward measured just before and just after it (the
ratios to the first forward, at the start, are kept too: on a shared machine they drift).
Each kind of indexing run is made `--repeats` times (3) and the median run is reported; the
machine's speed wanders from minute to minute, and a 24-photo run lasts about a second.
Each indexing run is a process of its own, as the app's is: `peak_rss_mb` is the largest
of theirs (model loading included), not this process's, which holds the torch reference.
Loading the models is not indexing: each process loads CLIP and indexes a few warm-up
photos before the timed run, so the face models are loaded and have run once (`warm_up`).
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, eval_dir, panned_video
from PIL import Image, ImageOps

from index import scan
from index.library import Library
from index.models import ClipModel, encoders
from index.random_clip import save_random_vit_b_32
from index.settings import Settings

DEFAULT_PHOTOS = eval_dir("captions/images")
DEMO_PORTRAIT = Path(__file__).resolve().parents[1] / "demo" / "photos" / "portrait.jpg"
EXTRA = ("text_ms", "export_peak_rss_mb")  # compare_backends' keys that are not backends
QUERIES = ["a dog on the beach", "birthday cake with candles", "snowy mountains at sunset"]


def clip_inputs(clip: ClipModel, folder: Path) -> list:
    """The CLIP input tensors of every photo in the folder (the reference decode)."""
    return [clip.preprocess(scan.open_rgb(f.path)) for f in scan.walk(folder).found]


def interleaved(encoders_: dict, pixels: list, step: int) -> tuple[dict, dict]:
    """Photos/s and vectors of each encoder over the same batches, taking turns per batch."""
    import torch

    batches = [torch.stack(pixels[i : i + step]) for i in range(0, len(pixels), step)]
    for encode in encoders_.values():
        encode(batches[0])  # warm-up: first passes are slower
    seconds = dict.fromkeys(encoders_, 0.0)
    vectors: dict = {name: [] for name in encoders_}
    names = list(encoders_)
    for k, batch in enumerate(batches):
        for name in names[k % 2 :] + names[: k % 2]:  # alternate who goes first
            start = time.perf_counter()
            vectors[name].append(encoders_[name](batch))
            seconds[name] += time.perf_counter() - start
    speed = {name: len(pixels) / s for name, s in seconds.items()}
    return speed, {name: np.vstack(v) for name, v in vectors.items()}


def one_thread(encode):
    """`encode` run with torch limited to one thread (restored afterwards)."""
    import torch

    def run(batch):
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return encode(batch)
        finally:
            torch.set_num_threads(before)

    return run


def compare_backends(spec: str, cache: Path, pixels: list, settings: Settings) -> dict:
    """torch, ONNX Runtime (fp32, int8) and OpenVINO (fp32), side by side on the same photos."""
    torch_clip = ClipModel(spec, settings=settings)
    runners = {"torch": torch_clip.encode_preprocessed}
    clips = {}
    for engine in encoders.RUNTIMES:
        clip = ClipModel(spec, backend=engine, cache_dir=cache, settings=settings)
        started = time.perf_counter()
        clip.load()
        exported = clip._exported
        if exported is None:
            print(f"  {engine}: not available ({clip.notes})")
            continue
        print(f"  {engine}: ready in {time.perf_counter() - started:.1f} s")
        clips[engine] = clip
        runners[f"{engine}-fp32"] = lambda b, e=exported: encoders.unit(e.image_fp32(b.numpy()))
        if exported.needs_calibration():  # int8 is built from the photos it is checked on
            import torch

            clip.calibrate(torch.stack(pixels[: settings.clip_calibration_photos]))
        if exported.int8 is not None:  # the one int8 tower, run by each engine in turn
            for runner in encoders.RUNTIMES:
                path = exported.folder / encoders.INT8_FILE
                tower = encoders.Runtime(runner, path, exported.threads)
                runners[f"{runner}-int8"] = lambda b, t=tower: encoders.unit(t(b.numpy()))
    speed, vectors = interleaved(runners, pixels, settings.model_batch)
    out = {}
    for name in runners:
        out[name] = {
            "photos_per_s": round(speed[name], 2),
            "speedup": round(speed[name] / speed["torch"], 3),
            "min_cosine": round(encoders.min_cosine(vectors[name], vectors["torch"]), 6),
        }
        print(
            f"  {name:18s} {speed[name]:6.1f} photos/s  ×{out[name]['speedup']:.2f}  "
            f"min cosine {out[name]['min_cosine']:.6f}"
        )
    out["text_ms"] = text_timings(torch_clip, clips)
    return out


def text_timings(torch_clip: ClipModel, clips: dict, rounds: int = 20) -> dict:
    """Milliseconds to encode one short query, per backend, taking turns."""
    runners = {name: clip.encode_texts for name, clip in clips.items()}
    runners["torch"] = torch_clip.encode_texts
    runners["torch-1-thread"] = one_thread(torch_clip.encode_texts)
    for encode in runners.values():
        encode(QUERIES[:1])
    spent = dict.fromkeys(runners, 0.0)
    for r in range(rounds):
        for name, encode in runners.items():
            start = time.perf_counter()
            encode([QUERIES[r % len(QUERIES)]])
            spent[name] += time.perf_counter() - start
    return {name: round(s / rounds * 1000, 2) for name, s in spent.items()}


def forward_speed(reference: ClipModel, pixels: list) -> float:
    """The torch forward's photos/s now: the faster of default threads and one thread."""
    speed, _ = interleaved(
        {"torch": reference.encode_preprocessed, "1": one_thread(reference.encode_preprocessed)},
        pixels,
        16,
    )
    return max(speed.values())


def timed_index(lib: Library, folder: Path) -> tuple[float, object]:
    start = time.perf_counter()
    report = lib.index(folder)
    return time.perf_counter() - start, report


def ocr_throughput(lib: Library, folder: Path) -> tuple[float, object]:
    """Photos per second through the words stage (after indexing), models loaded beforehand."""
    lib.words_reader.read(scan.open_rgb(scan.walk(folder).found[0].path))  # load the ONNX sessions
    start = time.perf_counter()
    report = lib.read_words(folder)
    return report.read / (time.perf_counter() - start), report


def words_stage_only(tmp: Path, spec: str, pixels: list, photos: Path) -> dict:
    """The words stage against the torch forward, each measured twice in turn (drift shows)."""
    settings = Settings(clip_backend="torch")
    reference = ClipModel(spec, settings=settings)
    _, _, lib = pipeline(tmp, "data-words", spec, settings, photos, faces=False, keep=True)
    forward, ocr = [], []
    for _ in range(2):
        speed, _ = interleaved({"torch": reference.encode_preprocessed}, pixels, 16)
        forward.append(speed["torch"])
        lib.catalog.clear_text()
        rate, text = ocr_throughput(lib, photos)
        ocr.append(rate)
    f, o = sum(forward) / 2, sum(ocr) / 2
    print(f"{len(pixels)} photos: torch forward {f:.1f} photos/s, words stage {o:.1f} photos/s")
    return {
        "photos": len(pixels),
        "forward_photos_per_s": round(f, 2),
        "ocr_photos_per_s": round(o, 2),
        "ocr_over_forward": round(o / f, 3),
        "ocr_photos_with_text": text.with_text,
        "runs": {"forward": [round(x, 2) for x in forward], "ocr": [round(x, 2) for x in ocr]},
        "settings": {
            k: getattr(settings, k) for k in ("ocr_gate_size", "ocr_detect_size", "ocr_runtime")
        },
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def large_copies(src: Path, dest: Path, n: int) -> Path:
    """Camera-sized (4000×3000) JPEG copies of the first n photos."""
    from PIL import Image

    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.iterdir())[:n]:
        with Image.open(f) as img:
            img.convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC).save(
                dest / f"{f.stem}_large.jpg", quality=92
            )
    return dest


def library(tmp: Path, name: str, spec: str, settings: Settings, faces: bool) -> Library:
    """A fresh library sharing the one export (exporting is first-use cost, not indexing)."""
    data = tmp / name
    data.mkdir()
    (data / "encoders").symlink_to(tmp / "encoders", target_is_directory=True)
    lib = Library(data, clip=spec, settings=settings, faces=faces)
    lib.clip.load()  # model loading is not indexing
    return lib


def warm_up(lib: Library, tmp: Path) -> None:
    """Index a few small photos with a face first, so that every model the run uses is
    loaded and has run in both decode workers: the app loads them once and keeps them from
    run to run, so, as CLIP's loading, that stays out of the timed run (it cost ~0.4-0.9 CPU
    s of a 120-photo run in a fresh process)."""
    lib.index(warm_up_photos(tmp))


def warm_up_photos(tmp: Path) -> Path:
    """tmp/warm-up: six photos with a face (the demo portrait, turned and mirrored)."""
    folder = tmp / "warm-up"
    if not folder.is_dir():
        folder.mkdir()
        with Image.open(DEMO_PORTRAIT) as img:
            face = ImageOps.exif_transpose(img).convert("RGB")
        for k, variant in enumerate((face, face.rotate(4), face.rotate(-4))):
            for mirrored in (False, True):
                picture = ImageOps.mirror(variant) if mirrored else variant
                picture.save(folder / f"warm-{k}-{int(mirrored)}.jpg", quality=90)
    return folder


def pipeline(
    tmp: Path, name: str, spec: str, settings: Settings, folder: Path, faces: bool, keep=False
):
    """Photos/s of a whole `index` run (decode, thumbnails, CLIP, faces, catalog), seconds of
    a no-change re-index, and the library when `keep` (else it is closed and its model freed)."""
    lib = library(tmp, name, spec, settings, faces)
    warm_up(lib, tmp)
    seconds, report = timed_index(lib, folder)
    start = time.perf_counter()
    again = lib.index(folder)  # nothing changed: how long a re-index takes
    reindex_s = time.perf_counter() - start
    assert again.unchanged == report.embedded
    if keep:
        return report.embedded / seconds, reindex_s, lib
    lib.clip.unload()
    lib.close()
    gc.collect()
    return report.embedded / seconds, reindex_s, None


def pipeline_in_child(tmp: Path, name: str, spec: str, folder: Path, faces: bool, ocr=False):
    """`pipeline` (and the words stage after it, with `ocr`) in a process of its own, as the
    app indexes: {photos_per_s, reindex_s, peak_rss_mb, ocr_*}. The process loads the model
    (not timed) and indexes; its peak RSS is the indexing run's memory."""
    argv = [sys.executable, __file__, "--pipeline", str(tmp), spec, name, str(folder)]
    argv += ["--faces"] * faces + ["--no-ocr"] * (not ocr)
    out = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.splitlines()[-1])


def pipeline_main(tmp: Path, spec: str, name: str, folder: Path, faces: bool, ocr: bool) -> None:
    """The child's side of `pipeline_in_child`: prints one JSON line."""
    rate, reindex_s, lib = pipeline(
        tmp, name, spec, Settings(clip_backend="auto"), folder, faces, True
    )
    out = {"photos_per_s": rate, "reindex_s": reindex_s}
    if ocr:
        rate, text = ocr_throughput(lib, folder)
        out.update(ocr_photos_per_s=rate, ocr_read=text.read, ocr_photos_with_text=text.with_text)
    out["peak_rss_mb"] = peak_rss_mb()
    lib.close()
    print(json.dumps(out))


def peak_rss_mb() -> float:
    """This process's peak resident memory, MB. Linux's VmHWM: a child started from a big
    parent would report the parent's peak as its own ru_maxrss (kept across fork and exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def compare_in_child(tmp: Path, spec: str, photos: Path) -> dict:
    """Run `compare_backends` in a child process: exporting and holding five encoders at once
    takes memory the indexer never needs, so it stays out of this process's peak RSS."""
    out = subprocess.run(
        [sys.executable, __file__, "--compare", str(tmp), spec, "--photos", str(photos)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout.splitlines()
    print("\n".join(out[:-1]))
    return json.loads(out[-1])


def compare_main(tmp: Path, spec: str, photos: Path) -> None:
    """The child's side of `compare_in_child`: prints the comparison, JSON last."""
    settings = Settings(clip_backend="auto")
    pixels = clip_inputs(ClipModel(spec, settings=settings), photos)
    figures = compare_backends(spec, tmp / "encoders", pixels, settings)
    figures["export_peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(figures))


VIDEO_SECONDS, VIDEO_FPS, VIDEO_SIZE = 60, 30, (1920, 1080)


def phone_video(path: Path, faces_dir: Path) -> Path:
    """A 60 s 1080p H.264 video as a phone records it (30 fps, a keyframe a second): ten
    scenes of 6 s, each a photo with people from the evaluation set, slowly panned."""
    sources = sorted(p for p in faces_dir.glob("*/*") if p.suffix.lower() in (".jpg", ".png"))
    step = max(1, len(sources) // 10)
    scenes = [Image.open(p).convert("RGB") for p in sources[::step][:10]]
    return panned_video(path, scenes, VIDEO_SECONDS, VIDEO_FPS, VIDEO_SIZE)


def first_use(tmp: Path, spec: str, settings: Settings, photos: Path) -> float:
    """Seconds to export the encoder and build and check int8 on the user's first photos,
    as a new library does once (kept in tmp/encoders for the libraries made after)."""
    folder = tmp / "first-photos"
    folder.mkdir()
    for f in sorted(photos.iterdir())[: settings.clip_calibration_photos]:
        shutil.copyfile(f, folder / f.name)  # copies: the walk follows no link out of a library
    (tmp / "encoders").mkdir()
    start = time.perf_counter()
    lib = library(tmp, "data-first-use", spec, settings, faces=False)
    report = lib.index(folder)
    seconds = time.perf_counter() - start
    # Else the int8 build and check would fall into the next library's timed run.
    assert report.embedded == settings.clip_calibration_photos, report
    assert not lib.clip.needs_calibration(), "int8 was not checked on the first photos"
    lib.clip.unload()
    lib.close()
    gc.collect()
    return seconds


def video_main(out: Path) -> None:
    """Index one 60 s 1080p video with CLIP (ViT-B-32 compute) and faces on; real time
    factor = video seconds per second of indexing. The encoder's one-off first use (export,
    int8 built and checked on the first photos) happens before, timed on its own; the video
    is then indexed in a process of its own, as the app's is (its peak RSS is the run's)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = save_random_vit_b_32(tmp / "vit-b-32-random")
        settings = Settings(clip_backend="auto")
        folder = tmp / "videos"
        folder.mkdir()
        start = time.perf_counter()
        phone_video(folder / "phone.mp4", eval_dir("faces"))
        written_s = time.perf_counter() - start
        first_use_s = first_use(tmp, spec, settings, DEFAULT_PHOTOS)
        argv = [sys.executable, __file__, "--video-index", str(tmp), spec, str(folder)]
        run = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True).stdout
        child = json.loads(run.splitlines()[-1])
    seconds, cpu_s = child["index_seconds"], child["index_cpu_s"]
    figures = {
        "video_seconds": VIDEO_SECONDS,
        "video_size": f"{VIDEO_SIZE[0]}x{VIDEO_SIZE[1]}",
        "video_fps": VIDEO_FPS,
        "index_seconds": round(seconds, 2),
        "video_realtime_factor": round(VIDEO_SECONDS / seconds, 2),
        "video_frames_per_s": round(VIDEO_SECONDS * VIDEO_FPS / seconds, 1),
        "index_cpu_s": round(cpu_s, 2),
        "video_seconds_per_cpu_s": round(VIDEO_SECONDS / cpu_s, 2),
        "moments": child["moments"],
        "moments_per_s": round(child["moments"] / seconds, 2),
        "faces_kept": child["faces_kept"],
        "encoder": child["encoder"],
        "encoder_first_use_s": round(first_use_s, 1),
        "first_use_peak_rss_mb": peak_rss_mb(),  # export + int8 build, in this process
        "video_written_s": round(written_s, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "peak_rss_mb": child["peak_rss_mb"],  # the indexing process, models loaded
    }
    print(
        f"60 s 1080p video indexed in {figures['index_seconds']} s: "
        f"{figures['video_realtime_factor']}x real time, {figures['moments']} moments, "
        f"{figures['faces_kept']} faces kept"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures))


def video_index_main(tmp: Path, spec: str, folder: Path) -> None:
    """The child's side of `video_main`: the models loaded (not timed), the video indexed;
    prints one JSON line."""
    lib = library(tmp, "data-video", spec, Settings(clip_backend="auto"), faces=True)
    lib._face_stage().analyzer.analyze(Image.new("RGB", (64, 64)))  # models loaded first
    cpu = time.process_time()
    seconds, report = timed_index(lib, folder)
    cpu_s = time.process_time() - cpu  # every thread's: the work, whatever the load
    assert report.new == 1 and not report.skipped, report.skipped
    video = lib.resolve_photo("phone.mp4")
    moments = lib.catalog.moments([video["id"]], lib.clip.spec)[video["id"]][0]
    out = {
        "index_seconds": seconds,
        "index_cpu_s": cpu_s,
        "moments": len(moments),
        "faces_kept": len(lib.catalog.faces_of_photo(video["id"])),
        "encoder": lib.clip.image_backend,
        "peak_rss_mb": peak_rss_mb(),
    }
    lib.close()
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument("--large", type=int, default=24, help="camera-sized photos to add (0: none)")
    ap.add_argument("--faces", action="store_true", help="also time the pipeline with faces")
    ap.add_argument("--no-ocr", action="store_true", help="do not time the words stage")
    ap.add_argument(
        "--repeats", type=int, default=3, help="indexing runs of each kind (the median is kept)"
    )
    ap.add_argument(
        "--ocr-only", action="store_true", help="only the words stage against the torch forward"
    )
    ap.add_argument("--video", action="store_true", help="index a 60 s 1080p video, faces on")
    ap.add_argument(
        "--out",
        type=Path,
        help="JSON file (default: bench/results/index_throughput.json, _video.json with "
        "--video, ocr_throughput.json with --ocr-only)",
    )
    ap.add_argument("--compare", nargs=2, metavar=("TMP", "SPEC"), help=argparse.SUPPRESS)
    ap.add_argument("--pipeline", nargs=4, help=argparse.SUPPRESS)  # TMP SPEC NAME FOLDER
    ap.add_argument("--video-index", nargs=3, help=argparse.SUPPRESS)  # TMP SPEC FOLDER
    args = ap.parse_args()
    if args.video_index:
        tmp, spec, folder = args.video_index
        video_index_main(Path(tmp), spec, Path(folder))
        return
    if args.video:
        video_main(args.out or RESULTS / "index_throughput_video.json")
        return
    if args.pipeline:
        tmp, spec, name, folder = args.pipeline
        pipeline_main(Path(tmp), spec, name, Path(folder), args.faces, not args.no_ocr)
        return
    if args.compare:
        compare_main(Path(args.compare[0]), args.compare[1], args.photos)
        return
    if not args.photos.is_dir():
        sys.exit(f"no photos at {args.photos}; pass --photos DIR")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = save_random_vit_b_32(tmp / "vit-b-32-random")
        settings = Settings(clip_backend="auto")
        reference = ClipModel(spec, settings=settings)
        pixels = clip_inputs(reference, args.photos)
        n = len(pixels)
        if args.ocr_only:
            line = json.dumps(words_stage_only(tmp, spec, pixels, args.photos))
            (args.out or RESULTS / "ocr_throughput.json").write_text(line + "\n")
            print(line)
            return
        print(f"{n} photos from {args.photos}; encoders, same batches, taking turns:")
        backends = compare_in_child(tmp, spec, args.photos)

        # The default encoder, as indexing uses it: int8 only if it passes on these photos.
        encoder_lib = library(tmp, "data-encoder", spec, settings, faces=False)
        import torch

        calibration = pixels[: settings.clip_calibration_photos]
        # Built and checked on these photos by the comparison already; else checked here.
        verdict = encoder_lib.clip.int8_verdict() or encoder_lib.clip.calibrate(
            torch.stack(calibration)
        )
        used = encoder_lib.clip.image_backend
        speed, vectors = interleaved(
            {
                "torch": reference.encode_preprocessed,
                "torch-1-thread": one_thread(reference.encode_preprocessed),
                used: encoder_lib.clip.encode_preprocessed,
            },
            pixels,
            settings.model_batch,
        )
        # The reference is torch at its best here: on a busy machine, torch's threads
        # oversubscribe the cores and one thread can be faster than all of them.
        forward = max(speed["torch"], speed["torch-1-thread"])
        figures = {
            "photos": n,
            "forward_photos_per_s": round(forward, 2),
            "torch_photos_per_s_default_threads": round(speed["torch"], 2),
            "torch_photos_per_s_1_thread": round(speed["torch-1-thread"], 2),
            "encoder": used,
            "encoder_forward_photos_per_s": round(speed[used], 2),
            "encoder_speedup": round(speed[used] / forward, 3),
            "encoder_min_cosine": round(encoders.min_cosine(vectors[used], vectors["torch"]), 6),
            "int8_calibration_min_cosine": verdict.min_cosine if verdict else None,
            "int8_method": verdict.method if verdict else None,
            "int8_tried": verdict.tried if verdict else None,
            "encoder_reason": verdict.reason if verdict else "no int8 on offer",
            "backends": {k: v for k, v in backends.items() if k not in EXTRA},
            "text_ms": backends["text_ms"],
            "export_peak_rss_mb": backends["export_peak_rss_mb"],
        }
        text_backend = encoder_lib.clip.text_backend.split("-")[0]
        if text_backend in backends["text_ms"]:
            torch_ms = min(backends["text_ms"]["torch"], backends["text_ms"]["torch-1-thread"])
            ratio = backends["text_ms"][text_backend] / torch_ms
            figures["text_time_over_torch"] = round(ratio, 3)
        print(
            f"default encoder {used}: {speed[used]:.1f} photos/s, torch {forward:.1f} "
            f"(×{figures['encoder_speedup']:.2f})"
        )

        encoder_lib.clip.unload()
        del encoder_lib
        gc.collect()
        # Each indexing run is divided by the torch forward measured just before and just
        # after it: on a shared machine the load drifts within a run of the benchmark. Each
        # is run `--repeats` times (a fresh library in a process of its own each time), and
        # the median run's figures are kept; every run's ratio is in `runs_over_forward`.
        peaks, around, start_ratios, every_run = {}, {}, {}, {}
        probe = pixels[:32]
        last = [forward_speed(reference, probe)]

        def indexing(key: str, name: str, folder: Path, faces: bool, ocr=False):
            runs = []
            for k in range(args.repeats):
                run = pipeline_in_child(tmp, f"{name}-{k}", spec, folder, faces, ocr)
                last.append(forward_speed(reference, probe))
                run["forward"] = (last[-2] + last[-1]) / 2
                run["over_forward"] = run["photos_per_s"] / run["forward"]
                runs.append(run)
            run = sorted(runs, key=lambda r: r["over_forward"])[len(runs) // 2]
            every_run[key] = [round(r["over_forward"], 3) for r in runs]
            around[key] = round(run["forward"], 2)
            peaks[key] = max(r["peak_rss_mb"] for r in runs)
            start_ratios[key] = round(run["photos_per_s"] / forward, 3)
            rate = run["photos_per_s"]
            print(
                f"  {key:22s}: {rate:6.1f} photos/s  (÷ torch forward around it "
                f"{rate / around[key]:.2f}, the median of {every_run[key]}; "
                f"÷ the first one {rate / forward:.2f})"
            )
            return run, rate, around[key]

        run, rate, near = indexing("pipeline", "data", args.photos, False, ocr=not args.no_ocr)
        figures["pipeline_photos_per_s"] = round(rate, 2)
        figures["ratio"] = round(rate / near, 3)
        figures["reindex_s"] = round(run["reindex_s"], 3)
        print(f"  no-change re-index: {run['reindex_s']:.2f} s")
        if not args.no_ocr:
            ocr = run["ocr_photos_per_s"]
            print(
                f"  words stage   : {ocr:6.1f} photos/s  (÷ torch forward {ocr / near:.2f}; "
                f"text found in {run['ocr_photos_with_text']} of {run['ocr_read']})"
            )
            figures["ocr_photos_per_s"] = round(ocr, 2)
            figures["ocr_over_forward"] = round(ocr / near, 3)
            figures["ocr_photos_with_text"] = run["ocr_photos_with_text"]
        if args.faces:
            _, rate, near = indexing("with_faces", "data-faces", args.photos, True)
            figures["with_faces_photos_per_s"] = round(rate, 2)
            figures["faces_over_forward"] = round(rate / near, 3)
        if args.large:
            big = large_copies(args.photos, tmp / "large", args.large)
            print(f"{args.large} camera-sized photos (4000×3000 JPEG)")
            _, rate, near = indexing("large", "data-large", big, False)
            figures["large_pipeline_photos_per_s"] = round(rate, 2)
            figures["large_ratio"] = round(rate / near, 3)
            if args.faces:
                _, rate, near = indexing("large_with_faces", "data-large-faces", big, True)
                figures["large_with_faces_photos_per_s"] = round(rate, 2)
                figures["large_faces_over_forward"] = round(rate / near, 3)
        figures["repeats"] = args.repeats
        figures["runs_over_forward"] = every_run
        figures["forward_photos_per_s_around_run"] = around
        figures["ratios_to_the_first_forward"] = start_ratios
        figures["forward_photos_per_s_at_end"] = round(last[-1], 2)
        figures["load_avg_1m"] = round(os.getloadavg()[0], 2)
        figures["peak_rss_mb"] = max(peaks.values())
        figures["peak_rss_mb_by_run"] = peaks
        # This process: the torch reference model, every photo's CLIP input, the int8 check.
        figures["bench_process_peak_rss_mb"] = peak_rss_mb()
    out = args.out or RESULTS / "index_throughput.json"
    out.write_text(json.dumps(figures) + "\n")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
