"""Indexing a folder: incremental, resumable, one decode per photo shared by the stages.

The indexer brings the catalog in line with a folder (new, changed, moved, removed files)
and runs the index stages (index/stage.py: CLIP, faces, words, …) on each photo that needs
them, decoding in worker threads a few batches ahead of the models. It knows no stage by
name and no file format: what a stage needs and writes is the stage's own business, how a
file is hashed and decoded its reader's (index/readers.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from index import capture_dates, layout, memory, readers, scan
from index.catalog import Catalog, path_text
from index.errors import InvalidInput
from index.settings import Settings
from index.stage import IndexStage, Progress, Run

__all__ = ["IndexReport", "Indexer", "Progress"]


@dataclass
class IndexReport:
    """What one `index` run did, for the closing summary."""

    root: str
    new: int = 0
    changed: int = 0
    moved: int = 0
    removed: int = 0
    unchanged: int = 0
    retried: int = 0  # files skipped before, read again (changed, or --retry-skipped)
    redated: int = 0  # photos dated by file time before, now by XMP, name or folder
    done: dict[str, int] = field(default_factory=dict)  # photos each stage did, by stage name
    found: dict[str, int] = field(default_factory=dict)  # ... in which it found something
    companions: int = 0  # files shown as part of a photo (the RAW of a RAW+JPEG pair)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    problems: list[tuple[str, str]] = field(default_factory=list)  # folders/entries unreadable
    notes: list[str] = field(default_factory=list)

    @property
    def embedded(self) -> int:
        """Photos that got a CLIP vector this run."""
        return self.done.get("clip", 0)

    @property
    def faces_done(self) -> int:
        """Photos whose faces were analysed this run."""
        return self.done.get("faces", 0)

    def tally(self, stage: str, found: bool) -> None:
        """Count one photo a stage did (and whether it found anything in it)."""
        self.done[stage] = self.done.get(stage, 0) + 1
        self.found[stage] = self.found.get(stage, 0) + found

    def to_json(self) -> dict:
        """The report as JSON-ready data."""
        return {
            "root": self.root,
            "new": self.new,
            "changed": self.changed,
            "moved": self.moved,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "retried": self.retried,
            "redated": self.redated,
            "embedded": self.embedded,
            "faces_done": self.faces_done,
            "companions": self.companions,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "problems": [{"path": p, "reason": r} for p, r in self.problems],
            "notes": self.notes,
        }


@dataclass
class _Work:
    """One file that needs reading: new, changed, or missing what a stage makes."""

    found: scan.FoundFile
    kind: str  # "new" | "changed" | "retry" (skipped before) | "fill"
    photo_id: int | None = None
    old_hash: str | None = None
    stages: tuple[IndexStage, ...] = ()  # the stages this photo needs


@dataclass
class _Done:
    work: _Work
    digest: str | None = None
    decoded: scan.Decoded | None = None
    analysed: dict[str, Any] = field(default_factory=dict)  # by stage name, made in the worker
    error: str | None = None
    vanished: bool = False  # deleted since the walk: reported, never recorded
    moved_from: int | None = None  # photo id whose file this is, under a new name
    same_content: bool = False


class Indexer:
    """Brings the catalog (and thumbnails) in line with one folder on disk, running the
    given index stages on every photo that needs them."""

    def __init__(self, catalog: Catalog, settings: Settings, stages: Sequence[IndexStage]):
        self.catalog = catalog
        self.settings = settings
        self.stages = list(stages)
        self.data_dir = catalog.data_dir
        self._gone_lock = threading.Lock()
        self._root = ""

    def run(
        self, folder: Path, progress: Progress | None = None, retry_skipped: bool = False
    ) -> IndexReport:
        """Index `folder` incrementally; safe to kill at any moment and run again.

        A file skipped before is read again when its size or times change (a chmod changes
        its ctime) and, with `retry_skipped`, in any case.
        """
        root = Path(os.path.realpath(folder))
        self._root = str(root)
        if not root.is_dir():
            raise InvalidInput(f"{folder} is not a folder. Give the folder that holds your photos.")
        if not os.access(root, os.R_OK | os.X_OK):
            raise InvalidInput(f"Cannot read the folder {folder}: permission denied.")
        report = IndexReport(root=path_text(root))
        progress = progress or (lambda done, total, what: None)
        progress(0, 0, "scanning folders")
        walked = scan.walk(root, exclude=(self.data_dir,))
        found, problems = walked.found, walked.unreadable
        report.problems = [(path_text(p.path), p.reason) for p in problems]
        report.skipped += [(path_text(p.path), p.reason) for p in walked.left_out]
        run = Run(report.root, progress)
        pending = self._begin(run)
        every = tuple(pending)

        known = self.catalog.photos_under(report.root)
        work: list[_Work] = []
        seen: set[str] = set()
        redate: list[tuple[int, str, str]] = []
        for f in found:
            text = path_text(f.path)
            seen.add(text)
            row = known.get(text)
            if row is None:
                work.append(_Work(f, "new", stages=every))
            elif row["status"] != "ok":
                touched = (row["size"], row["mtime_ns"], row["ctime_ns"]) != (
                    f.size,
                    f.mtime_ns,
                    f.ctime_ns,
                )
                if touched or retry_skipped:
                    work.append(_Work(f, "retry", row["id"], None, every))
                else:  # still skipped: counted as skipped, with the reason recorded last time
                    report.skipped.append((text, row["error"] or "skipped"))
            elif row["size"] != f.size or row["mtime_ns"] != f.mtime_ns:
                work.append(_Work(f, "changed", row["id"], row["hash"], every))
            elif needs := tuple(s for s, ids in pending.items() if row["id"] in ids):
                work.append(_Work(f, "fill", row["id"], row["hash"], needs))
            else:
                report.unchanged += 1
                if row["taken_source"] == capture_dates.UNCERTAIN:  # dated by file time: look again
                    when, source = scan.photo_date(f.path, self._root, f.mtime_ns)
                    if source != capture_dates.UNCERTAIN:
                        redate.append((row["id"], when, source))
        if redate:
            with self.catalog.transaction():
                for photo_id, taken_at, source in redate:
                    self.catalog.set_photo_date(photo_id, taken_at, source)
            report.redated = len(redate)
        # A photo under a folder that could not be read is not gone, only out of sight.
        unreadable_dirs = tuple(path_text(p.path) + "/" for p in problems)
        gone_rows = [
            row
            for text, row in known.items()
            if text not in seen and not text.startswith(unreadable_dirs)
        ]
        gone = {row["hash"]: row["id"] for row in gone_rows if row["hash"]}
        gone_ids = {row["id"] for row in gone_rows}
        self._pass(work, report, progress, "indexing", gone, gone_ids)
        self._end(run, report)
        if gone_ids:
            with self.catalog.transaction():
                self.catalog.delete_photos(sorted(gone_ids))
                self.catalog.bump_generation("images")
                self.catalog.bump_generation("faces")
            report.removed = len(gone_ids)
        self._record_companions(report, walked.companions)
        return report

    def _record_companions(
        self, report: IndexReport, companions: dict[str, list[tuple[str, str]]]
    ) -> None:
        """Each photo's companion files as this walk found them (a RAW beside its JPEG)."""
        pairs = {
            path_text(main): [(path_text(p), role) for p, role in files]
            for main, files in companions.items()
        }
        with self.catalog.transaction():
            self.catalog.set_companions(report.root, pairs)
        report.companions = sum(len(files) for files in pairs.values())

    def catch_up(
        self,
        root: str | None = None,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
    ) -> IndexReport:
        """Run the stages on the catalogued photos (under `root`) that still need them,
        without walking the folder; `stop` ends it between batches, keeping what was done.

        A file that cannot be read now is reported and left as it is (the next `index`
        looks at it again)."""
        progress = progress or (lambda done, total, what: None)
        report = IndexReport(root=root or "")
        run = Run(root, progress)
        pending = self._begin(run)
        needs: dict[int, list[IndexStage]] = {}
        for stage, ids in pending.items():
            for photo_id in ids:
                needs.setdefault(photo_id, []).append(stage)
        work = []
        rows = self.catalog.photos(needs)
        for photo_id in sorted(needs):  # oldest first: a resumed pass goes on where it stopped
            row = rows.get(photo_id)
            if row is None or row["status"] != "ok":
                continue
            found = scan.FoundFile(os.fsdecode(row["path_raw"]), row["size"], row["mtime_ns"])
            work.append(_Work(found, "fill", photo_id, row["hash"], tuple(needs[photo_id])))
        doing = " and ".join(stage.doing for stage in pending) or "nothing to do"
        self._pass(work, report, progress, doing, stop=stop)
        self._end(run, report)
        return report

    def _begin(self, run: Run) -> dict[IndexStage, set[int]]:
        """Each stage that can run, with the catalogued photos that still need it."""
        pending = {}
        for stage in self.stages:
            ids = stage.begin(self.catalog, run)
            if ids is not None:
                pending[stage] = ids
        return pending

    def _end(self, run: Run, report: IndexReport) -> None:
        for stage in self.stages:
            stage.end(self.catalog, run)
        report.notes.extend(run.notes)

    def _pass(
        self,
        work: list[_Work],
        report: IndexReport,
        progress: Progress,
        doing: str,
        gone: dict[str, int] | None = None,
        gone_ids: set[int] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """Read, decode and analyse `work` in workers, batch by batch, committing each."""
        processed = 0
        progress(0, len(work), doing)
        pinned = any(stage.uses_worker_cores for w in work for stage in w.stages)
        with _single_threaded_torch(pinned):
            for done_batch in self._read_ahead(work, gone or {}):
                if stop is not None and stop.is_set():
                    break
                self._commit(done_batch, report, gone_ids, record_errors=gone_ids is not None)
                # Else a long run's resident set only grows (index/memory.py).
                memory.give_back_if_grown(self.settings.memory_give_back_mb)
                processed += len(done_batch)
                progress(processed, len(work), doing)
                if stop is not None and stop.is_set():
                    break

    def _read_ahead(self, work: list[_Work], gone: dict[str, int]) -> Iterator[list[_Done]]:
        """Decode batches in worker threads, a few batches ahead of the models."""
        batches = list(scan.iter_batches(work, self.settings.batch_size))
        ahead = max(1, self.settings.prefetch_batches)
        with ThreadPoolExecutor(max_workers=max(1, self.settings.decode_workers)) as pool:
            pending: list[list[Future]] = []
            try:
                for i in range(min(ahead, len(batches))):
                    pending.append([pool.submit(self._read, w, gone) for w in batches[i]])
                next_batch = len(pending)
                while pending:
                    futures = pending.pop(0)
                    if next_batch < len(batches):
                        batch = batches[next_batch]
                        pending.append([pool.submit(self._read, w, gone) for w in batch])
                        next_batch += 1
                    yield [f.result() for f in futures]
            finally:  # stopped early: photos not started yet are not read at all
                for futures in pending:
                    for future in futures:
                        future.cancel()

    def _read(self, work: _Work, gone: dict[str, int]) -> _Done:
        """Worker: read, hash, recognise moves, decode once, thumbnail, run the stages'
        analyses on that one decode."""
        try:
            # One decode, at the largest size any stage needs (and the thumbnail's).
            size = max([self.settings.thumb_size, *(s.decode_size for s in work.stages)])
            if work.kind == "changed" or (work.kind == "new" and gone):
                # The hash first: it may say "moved" or "same content", and no decode is due.
                reader = readers.reader_for(work.found.path)
                data, digest = reader.digest(work.found.path)
                if work.kind == "new":
                    # Popped under a lock: of two new copies of one moved photo, one takes
                    # its catalog row and the other is indexed as a new photo.
                    with self._gone_lock:
                        moved_from = gone.pop(digest, None)
                    if moved_from is not None:
                        return _Done(work, digest, moved_from=moved_from)
                if work.kind == "changed" and digest == work.old_hash:
                    return _Done(work, digest, same_content=True)
                decoded = reader.decode(work.found.path, data, self.settings, digest, size)
            else:  # decoded whatever its hash: while a big file's hash is computed
                digest, decoded = readers.read_and_decode(work.found.path, self.settings, size)
            if work.kind != "fill":  # a filled photo keeps the row (and date) it has
                decoded.taken_at, decoded.taken_source = scan.photo_date(
                    work.found.path,
                    self._root,
                    work.found.mtime_ns,
                    decoded.taken_at,
                    decoded.taken_source,
                )
            thumb = layout.thumbnail_path(self.data_dir, digest)
            if not thumb.exists():
                scan.save_thumbnail(
                    decoded.image, thumb, self.settings.thumb_size, self.settings.jpeg_quality
                )
            # The stages' work here, in the worker, from the same decode: faces run while the
            # main thread has CLIP encode the previous batch, so both cores stay busy.
            analysed = {stage.name: stage.analyze(decoded) for stage in work.stages}
            # The row is made from it, without its pixels or the file's bytes: batches waiting
            # for the models hold what the stages made of each picture, not the pictures.
            kept = None
            if work.kind != "fill":
                kept = replace(decoded, image=None, frames=[], source=None)
            return _Done(work, digest, decoded=kept, analysed=analysed)
        except scan.Unreadable as err:
            return _Done(work, error=str(err), vanished=isinstance(err, scan.Vanished))

    def _commit(
        self,
        batch: list[_Done],
        report: IndexReport,
        gone_ids: set[int] | None,
        record_errors: bool = True,
    ) -> None:
        """The stages' batch work, then one transaction for all of it."""
        results: dict[str, dict[int, Any]] = {}
        for stage in self.stages:
            idx = [i for i, d in enumerate(batch) if stage.name in d.analysed]
            if idx:
                out = stage.batch([batch[i].analysed[stage.name] for i in idx])
                results[stage.name] = dict(zip(idx, out, strict=True))
        with self.catalog.transaction():
            written: dict[str, list[int]] = {}
            for i, d in enumerate(batch):
                photo_id = self._photo(d, report, gone_ids, record_errors)
                if photo_id is None:
                    continue
                for stage in self.stages:
                    if i in results.get(stage.name, {}):
                        found = stage.write(self.catalog, photo_id, results[stage.name][i])
                        report.tally(stage.name, found)
                        written.setdefault(stage.name, []).append(photo_id)
            for stage in self.stages:
                if written.get(stage.name):
                    stage.after_batch(self.catalog, written[stage.name])
            # Any write may change which vectors exist: saved FAISS indexes go stale.
            self.catalog.bump_generation("images")

    def _photo(
        self, d: _Done, report: IndexReport, gone_ids: set[int] | None, record_errors: bool
    ) -> int | None:
        """The catalog row of one read file (made or updated); None when the stages have
        nothing to do for it (unreadable, moved, or the same content)."""
        f = d.work.found
        text = path_text(f.path)
        if d.work.kind == "retry":
            report.retried += 1
        if d.error is not None:
            if record_errors and not d.vanished:
                self.catalog.upsert_photo(_skipped_row(f, text, d.error))
            report.skipped.append((text, d.error))
            return None
        if d.moved_from is not None:
            self.catalog.move_photo(d.moved_from, text, os.fsencode(f.path), f.mtime_ns, f.ctime_ns)
            if gone_ids is not None:
                gone_ids.discard(d.moved_from)
            report.moved += 1
            return None
        if d.same_content:
            self.catalog.touch_photo(d.work.photo_id, f.mtime_ns, f.ctime_ns)
            report.unchanged += 1
            return None
        if d.work.kind == "fill":  # same content, only what a stage makes was missing
            report.unchanged += 1
            return d.work.photo_id
        assert d.decoded is not None
        photo_id = self.catalog.upsert_photo(_photo_row(f, text, d.decoded))
        # A skipped file read at last is a photo new to the library.
        kind = "new" if d.work.kind == "retry" else d.work.kind
        setattr(report, kind, getattr(report, kind) + 1)
        return photo_id


@contextmanager
def _single_threaded_torch(on: bool) -> Iterator[None]:
    """With faces on, each decode worker runs the face models on one core of its own.

    Two photos analysed side by side keep two cores busy with no idle gaps between small
    ops; torch's own intra-op threads on top would oversubscribe the cores (three
    threads per core, spinning), which costs several times the work.
    """
    if not on:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _photo_row(f: scan.FoundFile, text: str, d: scan.Decoded) -> dict:
    return {
        "path": text,
        "path_raw": os.fsencode(f.path),
        "size": f.size,
        "mtime_ns": f.mtime_ns,
        "ctime_ns": f.ctime_ns,
        "hash": d.hash,
        "width": d.width,
        "height": d.height,
        "taken_at": d.taken_at,
        "taken_source": d.taken_source,
        "lat": d.lat,
        "lon": d.lon,
        "place": d.place,
        "clip_start": d.clip[0] if d.clip else None,
        "clip_end": d.clip[1] if d.clip else None,
        "kind": d.kind,
        "duration_s": d.duration_s,
        "status": "ok",
        "error": None,
    }


def _skipped_row(f: scan.FoundFile, text: str, reason: str) -> dict:
    return {
        "path": text,
        "path_raw": os.fsencode(f.path),
        "size": f.size,
        "mtime_ns": f.mtime_ns,
        "ctime_ns": f.ctime_ns,
        "status": "skipped",
        "error": reason,
    }
