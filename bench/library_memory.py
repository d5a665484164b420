"""Peak memory while indexing a whole library: 1,000 photos and 20 videos, faces on.

    python bench/library_memory.py [--photos 1000] [--videos 20] [--clip vit-b-32|tiny]
                                   [--out bench/results/library_memory.json]

The photos are re-encoded copies of the evaluation photos (each copy slightly resized and
saved at its own JPEG quality, so no two are the same file); the videos are real H.264
MP4s this script writes with PyAV (20 s, 1280×720, a keyframe a second, four scenes of
people from the evaluation photos). The library is indexed as `app.py index` does (CLIP,
real MTCNN + dlib faces, video moments), then its words are read. CLIP is the real
ViT-B-32 architecture with random weights by default (the same memory and compute as the
default model; its first use, timed and sampled apart, exports it and builds and checks
int8 on the first 64 photos, as a new library does), or the tiny test model with
`--clip tiny`. Took 37 minutes at load average 11.6 (a quiet machine: roughly a third).

Peak memory is the process's peak resident set (getrusage, which covers every thread)
plus a sampler of /proc/self/status every 0.1 s naming the step at the peak. Last line:
one JSON object.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path

from _common import RESULTS, eval_dir, panned_video
from PIL import Image

from index.library import Library
from index.random_clip import save_random_vit_b_32, save_tiny_open_clip
from index.settings import Settings

VIDEO_SECONDS, VIDEO_FPS, VIDEO_SIZE = 20, 15, (1280, 720)


class PeakSampler:
    """The largest resident set seen, sampled every `every` seconds, and the step then."""

    def __init__(self, every: float = 0.1):
        self.every, self.step, self.peak_mb, self.peak_step = every, "start", 0.0, ""
        self.by_step: dict[str, float] = {}
        self.done = 0  # photos the current step has done (its progress)
        self.timeline: list[dict] = []  # a point a second: time, step, progress, memory
        self._start = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def progress(self, done: int, total: int, what: str) -> None:
        """The indexer's progress callback: how far the current step is."""
        self.done = done

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            mb = rss_mb()
            now = time.perf_counter() - self._start
            if not self.timeline or now - self.timeline[-1]["s"] >= 1.0:
                point = {"s": round(now, 1), "step": self.step, "done": self.done}
                self.timeline.append({**point, "rss_mb": round(mb), **malloc_mb()})
            self.by_step[self.step] = max(self.by_step.get(self.step, 0.0), mb)
            if mb > self.peak_mb:
                self.peak_mb, self.peak_step = mb, self.step


def rss_mb() -> float:
    """The resident set of this process now, MB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks")
        + ("uordblks", "fordblks", "keepcost")
    ]


def malloc_mb() -> dict[str, int]:
    """What glibc's malloc holds now, MB: in use in its heaps, free in them (kept from the
    system: fragmentation), and in blocks of their own (mmap); empty off glibc."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        return {}
    info = libc.mallinfo2()
    mb = 1 << 20
    return {
        "heap_used_mb": round(info.uordblks / mb),
        "heap_free_mb": round(info.fordblks / mb),
        "mmap_mb": round(info.hblkhd / mb),
    }


def photo_copies(sources: list[Path], dest: Path, n: int) -> Path:
    """n different JPEG files made from the sources (resized by a few percent, saved at
    their own quality)."""
    dest.mkdir(parents=True)
    for k in range(n):
        src = sources[k % len(sources)]
        with Image.open(src) as img:
            rgb = img.convert("RGB")
        shrink = 1.0 - 0.01 * (k // len(sources) % 10)
        size = (max(16, round(rgb.width * shrink)), max(16, round(rgb.height * shrink)))
        rgb.resize(size).save(dest / f"photo_{k:04d}.jpg", quality=80 + k % 15)
    return dest


def phone_clip(path: Path, scenes: list[Image.Image]) -> Path:
    """A real H.264 MP4: each scene held for an equal share of VIDEO_SECONDS, slowly panned."""
    return panned_video(path, scenes, VIDEO_SECONDS, VIDEO_FPS, VIDEO_SIZE)


def build_library(root: Path, photos: int, videos: int) -> Path:
    """The folder: `photos` photo files and `videos` video files."""
    sources = sorted(eval_dir("captions/images").iterdir())
    faces = sorted(p for p in eval_dir("faces").glob("*/*") if p.suffix.lower() == ".jpg")
    sources += faces
    folder = root / "library"
    photo_copies(sources, folder / "photos", photos)
    (folder / "videos").mkdir()
    for k in range(videos):
        people = [Image.open(faces[(4 * k + j) % len(faces)]).convert("RGB") for j in range(4)]
        phone_clip(folder / "videos" / f"clip_{k:02d}.mp4", people)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=1000)
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--clip", choices=("vit-b-32", "tiny"), default="vit-b-32")
    ap.add_argument("--out", type=Path, default=RESULTS / "library_memory.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        folder = build_library(tmp, args.photos, args.videos)
        built_s = time.perf_counter() - start
        save = save_random_vit_b_32 if args.clip == "vit-b-32" else save_tiny_open_clip
        spec = save(tmp / "clip")
        before_mb = rss_mb()
        with PeakSampler() as sampler:
            # A new library's first use: the encoder exported and int8 built and checked on
            # its first photos (once per library; apart, so the peak of each step shows).
            sampler.step = "first use"
            lib = Library(tmp / "data", clip=spec, settings=Settings(), faces=True)
            first = sorted((folder / "photos").iterdir())[: Settings().clip_calibration_photos]
            (tmp / "first").mkdir()
            for f in first:  # copies: the walk leaves out links to files outside the folder
                shutil.copyfile(f, tmp / "first" / f.name)
            start = time.perf_counter()
            first_report = lib.index(tmp / "first")
            first_s = time.perf_counter() - start
            sampler.step = "index"
            start = time.perf_counter()
            report = lib.index(folder, sampler.progress)
            index_s = time.perf_counter() - start
            sampler.step = "words"
            start = time.perf_counter()
            words = lib.read_words(folder, sampler.progress)
            words_s = time.perf_counter() - start
            encoder = lib.clip.image_backend
            videos_in = lib.stats().get("videos")
            lib.close()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    figures = {
        "photos": args.photos,
        "videos": args.videos,
        "clip": args.clip,
        "encoder": encoder,
        "indexed_new": report.new,
        "videos_catalogued": videos_in,
        "skipped": len(report.skipped),
        "faces_done": report.faces_done,
        "words_read": words.read,
        "peak_rss_mb": round(peak, 1),
        "peak_rss_children_mb": round(children, 1),
        "sampled_peak_mb": round(sampler.peak_mb, 1),
        "sampled_peak_step": sampler.peak_step,
        "sampled_peak_by_step_mb": {k: round(v, 1) for k, v in sampler.by_step.items()},
        "first_use_s": round(first_s, 1),
        "first_use_indexed": first_report.new,
        "rss_before_index_mb": round(before_mb, 1),
        "index_s": round(index_s, 1),
        "words_s": round(words_s, 1),
        "library_written_s": round(built_s, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "rss_timeline": sampler.timeline,
    }
    print(
        f"{args.photos} photos + {args.videos} videos indexed in {index_s:.0f} s, words in "
        f"{words_s:.0f} s; peak RSS {peak:.0f} MB (sampled {sampler.peak_mb:.0f} MB "
        f"during {sampler.peak_step})"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
