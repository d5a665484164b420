"""Indexing a folder: incremental, resumable, decoding overlapped with the models."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from index import dates, encoders, layout, scan
from index.catalog import Catalog, path_text
from index.errors import InvalidInput
from index.models import ClipModel
from index.settings import Settings

Progress = Callable[[int, int, str], None]  # done, total, what is happening


class FaceStage(Protocol):
    """What the indexer needs from face detection + clustering (implemented in index/faces)."""

    model_id: str

    def analyze(self, decoded: scan.Decoded) -> Any:
        """Detect and embed the faces of one decoded photo (in a decode worker: thread-safe)."""

    def store(self, catalog: Catalog, photo_id: int, faces: Any) -> None:
        """Write one photo's faces (inside the batch transaction)."""

    def after_batch(self, catalog: Catalog, photo_ids: list[int]) -> None:
        """Cluster the batch's new faces into people (inside the batch transaction)."""


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
    embedded: int = 0  # photos that got a CLIP vector this run
    faces_done: int = 0  # photos whose faces were analysed this run
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    problems: list[tuple[str, str]] = field(default_factory=list)  # folders/entries unreadable
    notes: list[str] = field(default_factory=list)

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
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "problems": [{"path": p, "reason": r} for p, r in self.problems],
            "notes": self.notes,
        }


@dataclass
class _Work:
    """One file that needs reading: new, changed, or missing a vector or faces."""

    found: scan.FoundFile
    kind: str  # "new" | "changed" | "retry" (skipped before) | "fill"
    photo_id: int | None = None
    old_hash: str | None = None
    need_clip: bool = True
    need_faces: bool = True


@dataclass
class _Done:
    work: _Work
    digest: str | None = None
    decoded: scan.Decoded | None = None
    pixels: Any = None  # CLIP input tensor, prepared in the worker
    faces: Any = None  # the face stage's analysis, made in the worker too
    error: str | None = None
    vanished: bool = False  # deleted since the walk: reported, never recorded
    moved_from: int | None = None  # photo id whose file this is, under a new name
    same_content: bool = False


class Indexer:
    """Brings the catalog (and thumbnails) in line with one folder on disk."""

    def __init__(
        self,
        catalog: Catalog,
        settings: Settings,
        clip: ClipModel | None,
        faces: FaceStage | None = None,
    ):
        self.catalog = catalog
        self.settings = settings
        self.clip = clip
        self.faces = faces
        self.data_dir = catalog.data_dir
        self._gone_lock = threading.Lock()
        self._calibration: list[Any] = []  # CLIP inputs of the first photos, for the int8 check

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
        if self.clip is not None and not self.clip.loaded:
            # On first use this also exports the model for the faster encoder (a minute or so).
            progress(0, 0, "loading the CLIP model")
        clip_ok = self._clip_ready(report)
        if clip_ok:
            self._record_verdict(self.clip.int8_verdict())

        known = self.catalog.photos_under(report.root)
        missing_vec = (
            {
                r["id"]
                for r in self.catalog.photos_missing_vectors(
                    self.clip.spec, report.root, accepted_backends(self.catalog, self.clip)
                )
            }
            if clip_ok
            else set()
        )
        faces_on = self.faces is not None
        work: list[_Work] = []
        seen: set[str] = set()
        redate: list[tuple[int, str, str]] = []
        for f in found:
            text = path_text(f.path)
            seen.add(text)
            row = known.get(text)
            if row is None:
                work.append(_Work(f, "new", need_clip=clip_ok, need_faces=faces_on))
            elif row["status"] != "ok":
                touched = (row["size"], row["mtime_ns"], row["ctime_ns"]) != (
                    f.size,
                    f.mtime_ns,
                    f.ctime_ns,
                )
                if touched or retry_skipped:
                    work.append(_Work(f, "retry", row["id"], None, clip_ok, need_faces=faces_on))
                else:  # still skipped: counted as skipped, with the reason recorded last time
                    report.skipped.append((text, row["error"] or "skipped"))
            elif row["size"] != f.size or row["mtime_ns"] != f.mtime_ns:
                work.append(
                    _Work(f, "changed", row["id"], row["hash"], clip_ok, need_faces=faces_on)
                )
            elif row["status"] == "ok" and (
                row["id"] in missing_vec or self._needs_faces(row["faces_model"])
            ):
                need_faces = self._needs_faces(row["faces_model"])
                fill = _Work(
                    f, "fill", row["id"], row["hash"], row["id"] in missing_vec, need_faces
                )
                work.append(fill)
            else:
                report.unchanged += 1
                if row["taken_source"] == dates.UNCERTAIN:  # dated by file time: look again
                    found_date = scan.date_without_exif(f.path, self._root)
                    if found_date is not None:
                        redate.append((row["id"], *found_date))
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
        processed = 0
        progress(0, len(work), "indexing")
        with _single_threaded_torch(faces_on):
            for done_batch in self._read_ahead(work, gone):
                self._commit(done_batch, report, gone_ids)
                processed += len(done_batch)
                progress(processed, len(work), "indexing")
        if self._calibration:  # fewer photos than the sample size: check on what there was
            self._calibrate()
        if clip_ok:
            report.notes.extend(self.clip.notes)
            self.clip.notes.clear()
        if gone_ids:
            with self.catalog.transaction():
                self.catalog.delete_photos(sorted(gone_ids))
                self.catalog.bump_generation("images")
                self.catalog.bump_generation("faces")
            report.removed = len(gone_ids)
        return report

    def _needs_faces(self, faces_model: str | None) -> bool:
        return self.faces is not None and faces_model != self.faces.model_id

    def _clip_ready(self, report: IndexReport) -> bool:
        if self.clip is None:
            return False
        if self.clip.is_available():
            return True
        report.notes.append(
            "Photos were catalogued without CLIP vectors, so text search needs the model: "
            f"{self.clip.load_error} Run `index` again once the model is available to fill them in."
        )
        return False

    def _read_ahead(self, work: list[_Work], gone: dict[str, int]) -> Iterator[list[_Done]]:
        """Decode batches in worker threads, a few batches ahead of the models."""
        batches = list(scan.iter_batches(work, self.settings.batch_size))
        ahead = max(1, self.settings.prefetch_batches)
        with ThreadPoolExecutor(max_workers=max(1, self.settings.decode_workers)) as pool:
            pending: list[list[Future]] = []
            for i in range(min(ahead, len(batches))):
                pending.append([pool.submit(self._read, w, gone) for w in batches[i]])
            next_batch = len(pending)
            while pending:
                futures = pending.pop(0)
                if next_batch < len(batches):
                    pending.append([pool.submit(self._read, w, gone) for w in batches[next_batch]])
                    next_batch += 1
                yield [f.result() for f in futures]

    def _read(self, work: _Work, gone: dict[str, int]) -> _Done:
        """Worker: read, hash, recognise moves, decode, thumbnail, prepare the CLIP input."""
        try:
            data = scan.read_bytes(work.found.path)
            digest = scan.file_hash(data)
            if work.kind == "new":
                # Popped under a lock: of two new copies of one moved photo, one takes its
                # catalog row and the other is indexed as a new photo.
                with self._gone_lock:
                    moved_from = gone.pop(digest, None)
                if moved_from is not None:
                    return _Done(work, digest, moved_from=moved_from)
            if work.kind == "changed" and digest == work.old_hash:
                return _Done(work, digest, same_content=True)
            # Faces need a detailed copy; CLIP and the thumbnail alone make do with much less.
            size = self.settings.face_image_size if work.need_faces else self.settings.thumb_size
            decoded = scan.decode(data, self.settings, digest, size)
            if decoded.taken_at is None:
                found_date = scan.date_without_exif(work.found.path, self._root)
                if found_date is not None:
                    decoded.taken_at, decoded.taken_source = found_date
            thumb = layout.thumbnail_path(self.data_dir, digest)
            if not thumb.exists():
                scan.save_thumbnail(
                    decoded.image, thumb, self.settings.thumb_size, self.settings.jpeg_quality
                )
            pixels = self.clip.preprocess(decoded.image) if work.need_clip else None
            # Faces here, in the worker, from the same decode: they run while the main thread
            # has CLIP encode the previous batch, so both cores stay busy.
            faces = self.faces.analyze(decoded) if self.faces and work.need_faces else None
            return _Done(work, digest, decoded=decoded, pixels=pixels, faces=faces)
        except scan.Unreadable as err:
            return _Done(work, error=str(err), vanished=isinstance(err, scan.Vanished))

    def _commit(self, batch: list[_Done], report: IndexReport, gone_ids: set[int]) -> None:
        """Models on the batch, then one transaction for all of it."""
        vectors = self._embed(batch)
        faces = {i: d.faces for i, d in enumerate(batch) if d.faces is not None}
        with self.catalog.transaction():
            if vectors:
                dim = int(next(iter(vectors.values()))[0].shape[0])
                self.catalog.record_model("clip", self.clip.spec, dim)
            faced: list[int] = []
            for i, d in enumerate(batch):
                f = d.work.found
                text = path_text(f.path)
                if d.work.kind == "retry":
                    report.retried += 1
                if d.error is not None:
                    if not d.vanished:
                        self.catalog.upsert_photo(_skipped_row(f, text, d.error))
                    report.skipped.append((text, d.error))
                    continue
                if d.moved_from is not None:
                    self.catalog.move_photo(
                        d.moved_from, text, os.fsencode(f.path), f.mtime_ns, f.ctime_ns
                    )
                    gone_ids.discard(d.moved_from)
                    report.moved += 1
                    continue
                if d.same_content:
                    self.catalog.touch_photo(d.work.photo_id, f.mtime_ns, f.ctime_ns)
                    report.unchanged += 1
                    continue
                if d.work.kind == "fill":  # same content, only vectors or faces were missing
                    photo_id = d.work.photo_id
                    report.unchanged += 1
                else:
                    photo_id = self.catalog.upsert_photo(_photo_row(f, text, d.decoded))
                    # A skipped file read at last is a photo new to the library.
                    kind = "new" if d.work.kind == "retry" else d.work.kind
                    setattr(report, kind, getattr(report, kind) + 1)
                if i in vectors:
                    vec, backend = vectors[i]
                    self.catalog.put_image_vector(photo_id, self.clip.spec, vec, backend)
                    report.embedded += 1
                if i in faces:
                    self.faces.store(self.catalog, photo_id, faces[i])
                    faced.append(photo_id)
            if faced:
                self.faces.after_batch(self.catalog, faced)
                self.catalog.bump_generation("faces")
                report.faces_done += len(faced)
            # Any write may change which vectors exist: saved FAISS indexes go stale.
            self.catalog.bump_generation("images")

    def _embed(self, batch: list[_Done]) -> dict[int, tuple[Any, str]]:
        """CLIP vectors of the batch's prepared pixels and the backend that made them, by
        position in the batch.

        Writes nothing: a write here would open the catalog's write transaction before the
        slow face analysis and hold other writers (the chat naming someone) off meanwhile.
        """
        import torch

        idx = [i for i, d in enumerate(batch) if d.pixels is not None]
        out: dict[int, tuple[Any, str]] = {}
        step = max(1, self.settings.model_batch)
        for start in range(0, len(idx), step):
            part = idx[start : start + step]
            pixels = [batch[i].pixels for i in part]
            self._collect_calibration(pixels)
            vecs = self.clip.encode_preprocessed(torch.stack(pixels))
            backend = self.clip.image_backend
            out.update((i, (vec, backend)) for i, vec in zip(part, vecs, strict=True))
        return out

    def _collect_calibration(self, pixels: list[Any]) -> None:
        """Keep the first photos' inputs until there are enough to check int8 on them."""
        wanted = self.settings.clip_calibration_photos
        if not self.clip.needs_calibration() or len(self._calibration) >= wanted:
            return
        self._calibration.extend(pixels[: wanted - len(self._calibration)])
        if len(self._calibration) >= wanted:
            self._calibrate()

    def _calibrate(self) -> None:
        """Check int8 against fp32 on the collected photos and record the verdict."""
        import torch

        verdict = self.clip.calibrate(torch.stack(self._calibration))
        self._calibration = []
        self._record_verdict(verdict)

    def _record_verdict(self, verdict: encoders.Verdict | None) -> None:
        """Keep the int8 verdict in the catalog too: it decides which vectors share an index."""
        key = int8_meta_key(self.clip.spec)
        if verdict is not None and self.catalog.meta(key) != verdict_text(verdict):
            with self.catalog.transaction():
                self.catalog.set_meta(key, verdict_text(verdict))
                self.catalog.bump_generation("images")


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


def int8_meta_key(spec: str) -> str:
    """The catalog meta key holding the int8 self-check's verdict for one model."""
    return f"int8_verdict:{spec}"


def verdict_text(verdict: encoders.Verdict) -> str:
    """A verdict as stored: "passed" or "failed", and the threshold it was judged at."""
    return f"{'passed' if verdict.passed else 'failed'}@{verdict.threshold}"


def accepted_backends(catalog: Catalog, clip: ClipModel) -> list[str]:
    """Backends whose vectors may share this library's index (int8 only once it passed)."""
    stored = catalog.meta(int8_meta_key(clip.spec)) or ""
    passed = stored == f"passed@{clip.settings.clip_int8_min_cosine}"
    return encoders.compatible_backends(passed)


def _photo_row(f: scan.FoundFile, text: str, d: scan.Decoded) -> dict:
    taken_at, source = (
        (d.taken_at, d.taken_source)
        if d.taken_at
        else (scan.file_time(f.mtime_ns), dates.UNCERTAIN)
    )
    return {
        "path": text,
        "path_raw": os.fsencode(f.path),
        "size": f.size,
        "mtime_ns": f.mtime_ns,
        "ctime_ns": f.ctime_ns,
        "hash": d.hash,
        "width": d.width,
        "height": d.height,
        "taken_at": taken_at,
        "taken_source": source,
        "lat": d.lat,
        "lon": d.lon,
        "place": d.place,
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
