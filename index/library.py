"""The front door of `index/`: open a data dir, index folders, search, manage people.

`Library` composes its rooms; none of them holds a reference back: the `Catalog` (SQLite),
the CLIP model, the image `VectorStore`, `People` (names and faces) and the `Searcher`
(queries to hits). A room a caller uses as it is, it reaches directly (`library.people.rename`);
the front door's own methods are the ones that combine rooms (index, then read the words;
search with an example photo), never a one-line forward (tests/test_architecture.py).
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index import duplicates, explain, layout, memory, photo_refs, scan, videos
from index.catalog import CATALOG_NAME, Catalog, library_traces, path_text
from index.clip_stage import ClipStage
from index.errors import CatalogError, InvalidInput, PirError
from index.face_stage import FaceStage
from index.faces import DetectedFace
from index.facts import FactFinder
from index.indexer import Indexer, IndexReport, Progress
from index.models import ClipModel
from index.models.int8 import accepted_backends, encoder_state
from index.models.lifecycle import Lazy, file_bytes, loaded_models
from index.moment_stage import MomentStage
from index.ocr import TextReader
from index.people import People
from index.search import Like, Searcher, TextVectors, load_templates
from index.settings import DEFAULT_CLIP, Settings, default_data_dir
from index.stage import IndexStage
from index.types import Facts, Photo, Query, SearchResult
from index.vectors import VectorStore
from index.watch import Watcher
from index.words_stage import WordsReport, WordsStage

# The front door also hands the assistant the one model lifecycle, for its own model (spaCy).
__all__ = ["Lazy", "Library", "file_bytes"]

if TYPE_CHECKING:
    from PIL import Image


class Library:
    """One photo library: its catalog, its models (loaded lazily) and its vector indexes."""

    def __init__(
        self,
        data_dir: Path | str | None = None,
        clip: str | None = None,
        settings: Settings | None = None,
        read_only: bool = False,
        faces: bool = True,
        rebuild: bool = False,
        verify: bool = False,
        ocr: bool | None = None,
    ):
        """`rebuild`: make a lost catalog anew (indexing); `verify`: read the whole catalog
        once to refuse a damaged one (before serving or indexing)."""
        self.settings = settings or Settings.from_env()
        self.data_dir = Path(data_dir).expanduser() if data_dir else default_data_dir()
        self.read_only = read_only
        self.catalog = Catalog(self.data_dir, read_only=read_only, rebuild=rebuild)
        if verify:
            try:
                self.catalog.verify()
            except CatalogError:
                self.catalog.close()
                raise
        recorded = self.catalog.model("clip")
        self.clip_spec_requested = clip
        # An explicit but empty spec (--clip "") is a mistake to report, not the default.
        spec = clip if clip is not None else (recorded["spec"] if recorded else DEFAULT_CLIP)
        self.clip = ClipModel(
            spec,
            threads=self.settings.torch_threads,
            backend=self.settings.clip_backend,
            cache_dir=layout.encoder_dir(self.data_dir),
            settings=self.settings,
        )
        self.images = VectorStore(self.data_dir, "images", self.settings)
        self._images_built = float("-inf")  # when image_index last made sure it was current
        self._faces_enabled = faces
        self._faces: FaceStage | None = None  # made on first use (see _face_stage)
        self.ocr_enabled = self.settings.ocr if ocr is None else ocr
        self._words_reader: TextReader | None = None
        # Writes (index, people edits) take it; reads do not, so threads sharing one Library
        # serialise their own calls (the chat's Assistant.lock).
        self._lock = threading.RLock()
        # The people of the library, reached directly: `library.people.rename(old, new)`.
        self.people = People(self.catalog, self.settings, self._lock, self._analyse_faces)

    @property
    def clip(self) -> ClipModel:
        """The CLIP model (weights load on first use)."""
        return self._clip

    @clip.setter
    def clip(self, model: ClipModel) -> None:
        # Libraries may share one loaded model (one copy of the weights); the searcher's text
        # encoder follows whichever model the library uses.
        self._clip = model
        text = TextVectors(model, load_templates(), self.settings.text_cache_size)
        self.searcher = Searcher(
            self.catalog,
            self.image_index,
            text,
            self.settings,
            model=model.spec,
            words_pending=self.words_pending,
        )

    def sibling(self) -> Library:
        """Another Library on this data dir with its own catalog connection (for a thread),
        sharing this one's models: one copy of the weights in memory."""
        other = Library(
            self.data_dir, clip=self.clip_spec_requested, settings=self.settings,
            read_only=self.read_only, faces=self._faces_enabled, ocr=self.ocr_enabled,
        )  # fmt: skip
        other.clip = self.clip
        return other

    @staticmethod
    def exists_at(data_dir: Path | str) -> bool:
        """Whether `data_dir` holds a library (its catalog, or traces of a lost one)."""
        return (Path(data_dir) / CATALOG_NAME).exists() or bool(library_traces(Path(data_dir)))

    # --- models ---

    def model_mismatch(self) -> str | None:
        """A message when the requested CLIP model differs from the one the vectors came from."""
        return explain.clip_mismatch(self.catalog.vector_models(), self.clip.spec)

    def _face_stage(self) -> FaceStage:
        # Made on first use: an unknown face model is reported when faces are needed.
        if self._faces is None:
            self._faces = FaceStage(self.settings)
        return self._faces

    def _analyse_faces(self, image: Image.Image) -> list[DetectedFace]:
        return self._face_stage().analyzer.analyze_photo(image)

    # --- the index stages (index/stage.py), registered here ---

    def stages(self) -> list[IndexStage]:
        """The first pass of indexing, on one shared decode: CLIP, then faces (when on).
        After it a photo can be found by description, people, dates and places."""
        stages: list[IndexStage] = [
            ClipStage(self.clip, self.settings),
            MomentStage(self.clip, self.settings),
        ]
        if self._faces_enabled:
            stages.append(self._face_stage())
        return stages

    def later_stages(self) -> list[IndexStage]:
        """The pass after it, over the photos just indexed: words in photos (when on)."""
        return [WordsStage(self.words_reader, self.settings)] if self.ocr_enabled else []

    def text_model_problem(self) -> str | None:
        """Why searching by description cannot work here (a cheap look, no weights loaded)."""
        return self.clip.check()

    def text_model_loaded(self) -> bool:
        """Whether the CLIP weights are in memory (the next description search is quick)."""
        return self.clip.loaded

    def text_model_ready(self, download: Callable[[int, int, str], None] | None = None) -> bool:
        """Load CLIP if needed; whether searching by description works. Never raises.

        `download` hears (bytes done, bytes in all, file) while missing weights download."""
        if download is not None and not self.clip.loaded:
            self.clip.download(download)
        return self.clip.is_available()

    # --- indexing ---

    def index(
        self,
        folder: Path | str,
        progress: Progress | None = None,
        reembed: bool = False,
        retry_skipped: bool = False,
    ) -> IndexReport:
        """Index a folder incrementally (see `Indexer.run`)."""
        with self._lock:
            faces = self._faces_enabled and self.people.face_model_mismatch()
            mismatch = self.model_mismatch() or faces
            if mismatch and not reembed:
                raise CatalogError(mismatch)
            if mismatch:
                with self.catalog.transaction():
                    self.catalog.delete_vectors_not_of(self.clip.spec)
                    self.catalog.bump_generation("images")
            indexer = Indexer(self.catalog, self.settings, self.stages())
            report = indexer.run(Path(folder), progress, retry_skipped=retry_skipped)
            lost = self.lost_catalog_note()
            if lost:
                report.notes.insert(0, lost)
                self.catalog.rebuilt = []
            restored = self.people.restore_names()
            if restored is not None:
                report.notes.insert(0, restored.summary())
            saved = self.people.save_file()
            if saved:
                report.notes.append(saved)
            if self.clip.is_available():
                self.image_index(fresh=True)  # rebuild and save now, not at the first query
            return report

    def lost_catalog_note(self) -> str | None:
        """What to tell the user when this library's catalog was lost and made anew."""
        if not self.catalog.rebuilt:
            return None
        return (
            f"The catalog {self.catalog.path} was missing although this data dir held a "
            f"library ({', '.join(self.catalog.rebuilt)}); it was made anew from the photos."
        )

    def sync(
        self,
        folder: Path | str,
        progress: Progress | None = None,
        indexed: Callable[[IndexReport], None] | None = None,
        words_progress: Progress | None = None,
        stop: threading.Event | None = None,
        reembed: bool = False,
        retry_skipped: bool = False,
    ) -> tuple[IndexReport, WordsReport]:
        """Bring the library in line with `folder`: index it (`index`), tell `indexed`, then
        read its words (`read_words`, with `words_progress` or `progress`) until `stop`.

        The one sequence the command line, the server and the watcher all run."""
        report = self.index(folder, progress, reembed=reembed, retry_skipped=retry_skipped)
        if indexed is not None:
            indexed(report)
        if stop is not None and stop.is_set():
            return report, WordsReport()
        return report, self.read_words(folder, words_progress or progress, stop=stop)

    def read_words(
        self,
        folder: Path | str | None = None,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
    ) -> WordsReport:
        """The later stages (words in photos) on photos (under `folder`) that still need them.

        Runs after `index`, apart from it: CLIP, faces, dates and places are searchable
        before it starts. Does nothing when OCR is off (`--no-ocr`, PIR_OCR=0).
        """
        stages = self.later_stages()
        if not stages:
            return WordsReport()
        root = path_text(os.path.realpath(folder)) if folder is not None else None
        with self._lock:
            if self.catalog.photos_without_text(self.words_reader.model_id, root):
                self._let_go_of_indexing_models()
            done = Indexer(self.catalog, self.settings, stages).catch_up(root, progress, stop)
        words = WordsStage.name
        return WordsReport(
            read=done.done.get(words, 0) + len(done.skipped),
            with_text=done.found.get(words, 0),
            skipped=done.skipped,
        )

    def _let_go_of_indexing_models(self) -> None:
        """Before a words pass: drop the models only indexing uses (the face models, CLIP's
        image tower; ~460 MB with ViT-B-32) and give the memory back, so the OCR networks
        do not come on top of them. Each loads again at its next use; searches by
        description keep CLIP's text tower."""
        self.clip.release_image_tower()
        if self._faces is not None:
            self._faces.analyzer.unload()
        memory.give_back()

    def words_pending(self) -> int | None:
        """Photos whose words are not read yet; None when OCR is off."""
        if not self.ocr_enabled:
            return None
        return len(self.catalog.photos_without_text(self.words_reader.model_id))

    @property
    def words_reader(self) -> TextReader:
        """The OCR reader (its models load at its first photo)."""
        if self._words_reader is None:
            self._words_reader = TextReader(self.settings)
        return self._words_reader

    def watch(
        self,
        folders: list[Path],
        progress: Progress | None = None,
        done: Callable[[IndexReport | PirError], None] | None = None,
        idle: Callable[[], None] | None = None,
    ) -> Watcher:
        """Keep `folders` current from now on (see index/watch.py): changed folders are
        indexed again, then their words read; `done` gets each folder's report or error,
        `idle` is called once all of that is over (nothing runs until the next change)."""

        def sync(roots: list[Path], changed: threading.Event) -> None:
            for root in roots:  # words only until newer changes are waiting
                try:
                    self.sync(root, progress, indexed=done, stop=changed)
                except PirError as err:
                    if done is not None:
                        done(err)
            if idle is not None:
                idle()

        return Watcher(folders, sync, self.settings, exclude=(self.data_dir,)).start()

    # --- vectors ---

    def image_index(self, fresh: bool = False) -> VectorStore:
        """The FAISS index of CLIP image vectors, current with the catalog.

        While another process or thread is indexing, the catalog changes every batch; a
        chat search then reuses an index rebuilt less than `index_refresh_s` ago rather
        than rebuilding for every question. `fresh` insists on the catalog's latest state.
        """
        spec = self.clip.spec
        # Vectors of backends that were not checked against each other never share an index.
        backends = accepted_backends(self.catalog, self.clip)
        key = f"{spec}|{','.join(backends)}"
        recent = time.monotonic() - self._images_built < self.settings.index_refresh_s
        if not fresh and recent and self.images.index is not None and self.images.model == key:
            return self.images
        self.images.ensure(
            self.catalog.generation("images"),
            key,
            *videos.image_index_source(self.catalog, spec, backends),
            persist=not self.read_only,
        )
        self._images_built = time.monotonic()
        return self.images

    # --- search (the work lives in index/search.py) ---

    def search(self, query: Query) -> SearchResult:
        """Photos matching a parsed query, best first, each with its reasons."""
        like = self._like(self.resolve_photo(query.like_photo)) if query.like_photo else None
        return self.searcher.search(query, like)

    def facts(self, query: Query, want: frozenset[str] = frozenset()) -> Facts:
        """Counted answers about the photos a query's filters select (see index/facts.py):
        how many, first and last dates, years or months, places, who else is in them."""
        return FactFinder(self.catalog, self.searcher.select).facts(query, want)

    def search_like(
        self, ref: str | Path | Image.Image, limit: int | None = None, text: str = ""
    ) -> SearchResult:
        """Photos that look like a library photo (never itself), an image file or an upload."""
        if isinstance(ref, str | Path):
            if photo_refs.is_library_photo(self.catalog, ref) or not os.path.isfile(ref):
                row = self.resolve_photo(ref)
                query = Query(raw=str(ref), text=text, limit=limit, like_photo=row["path"])
                return self.searcher.search(query, self._like(row))
            # A photo from outside the library: use its pixels.
            return self._search_pixels(
                self._open_image(ref), limit, text, path_text(Path(ref).name)
            )
        return self._search_pixels(ref, limit, text, "the uploaded photo")

    def open_upload(self, path: str | Path) -> Image.Image:
        """The pixels of a photo a user uploaded, reduced as when indexing.

        Size and pixel limits (`upload_max_mb`, `upload_max_pixels`) are checked before
        anything is decoded; an empty, non-image, truncated or oversized file is refused with
        one sentence saying why.
        """
        limit_mb = self.settings.upload_max_mb
        try:
            size = os.stat(path).st_size
        except OSError as err:
            raise InvalidInput(f"The upload could not be read ({err.strerror or err}).") from err
        if size == 0:
            raise InvalidInput("That file is empty (0 bytes), so there is no photo to look at.")
        if size > limit_mb * 1_000_000:
            raise InvalidInput(
                f"That file is too big ({size / 1_000_000:.0f} MB; uploads are limited to "
                f"{limit_mb} MB)."
            )
        limits = self.settings.override(max_pixels=self.settings.upload_max_pixels)
        try:
            return scan.decode(scan.read_bytes(os.fspath(path)), limits, name=os.fspath(path)).image
        except scan.Unreadable as err:
            raise InvalidInput(f"I can't use that file as a photo: {err}.") from err

    def _like(self, row: Photo) -> Like:
        """A library photo as an example: its vector, its name, and itself left out."""
        return Like(self.photo_vector(row), Path(row["path"]).name, row["id"])

    def _search_pixels(
        self, image: Image.Image, limit: int | None, text: str, name: str
    ) -> SearchResult:
        query = Query(raw=f"({name})", text=text, limit=limit)
        return self.searcher.search(query, Like(self.clip.encode_images([image])[0], name))

    def _open_image(self, path: str | Path) -> Image.Image:
        """The pixels of an image file (reduced as when indexing); refuses non-images clearly."""
        try:
            data = scan.read_bytes(os.fspath(path))
            return scan.decode(data, self.settings, name=os.fspath(path)).image
        except scan.Unreadable as err:
            raise InvalidInput(
                f"{path_text(path)} cannot be used as an example photo: {err}."
            ) from err

    def photo_clip(self, photo_id: int) -> str | None:
        """A file a browser plays for the photo's clip (motion or Live Photo), or None."""
        return photo_refs.photo_clip(self.catalog, photo_id, self.settings.clip_max_side)

    def photo_info(self, photo_id: int) -> dict:
        """One photo's details for a larger view: path, thumbnail, date, place, people, size."""
        return photo_refs.photo_info(self.catalog, photo_id)

    # --- looking things up ---

    def resolve_photo(self, ref: str | Path) -> Photo:
        """A photo of the library from a path (absolute or relative) or a unique file name."""
        return photo_refs.resolve_photo(self.catalog, ref)

    def names_in_photos(self, photo_ids: list[int]) -> dict[int, list[str]]:
        """Every named person of each photo, left to right (for a photo's larger view)."""
        out: dict[int, list[str]] = {}
        for f in self.catalog.faces_in_photos(photo_ids):
            names = out.setdefault(f["photo_id"], [])
            if f["person_name"] and f["person_name"] not in names:
                names.append(f["person_name"])
        return out

    def servable_file(self, path: str) -> bool:
        """Whether the web server may hand out this file: a catalogued photo (by the path it
        was catalogued under, still a regular file that does not lead elsewhere), or the
        thumbnail or a face crop of one. Nothing else in the library or the data dir."""
        path = os.path.abspath(path)
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                return False
        except OSError:
            return False
        digest = layout.cached_picture_hash(Path(os.path.abspath(self.data_dir)), path)
        if digest is not None:  # written by us, never a link
            return not os.path.islink(path) and bool(self.catalog.photos_by_hash(digest))
        row = self.catalog.photo_by_path(path_text(path))
        if row is None or row["status"] != "ok":
            return False
        real = os.path.realpath(path)
        if real == path:
            return True
        # Reached through a link: only when the link's target is itself a catalogued photo
        # (a file swapped for a link to /etc/passwd after indexing is refused).
        target = self.catalog.photo_by_path(path_text(real))
        return target is not None and target["status"] == "ok"

    def thumbnail(self, row: Photo) -> str | None:
        """The cached thumbnail file of a photo, if there is one."""
        return photo_refs.thumbnail(self.data_dir, row)

    def photo_vector(self, row: Photo) -> np.ndarray:
        """The CLIP vector of a library photo (computed now if it has none yet)."""
        vec = self.catalog.image_vector(row["id"], self.clip.spec)
        if vec is None:
            vec = self.clip.encode_images(
                [scan.open_rgb(os.fsdecode(row["path_raw"]), self.settings)]
            )[0]
        return vec

    def places(self) -> list[str]:
        """Place names a query can use: each city and country of the photos, most photos first."""
        parts = (part.strip() for place in self.catalog.places() for part in place.split(","))
        return list(dict.fromkeys(p for p in parts if p))

    def years(self) -> list[int]:
        """Years with photos, most photos first (for example queries)."""
        return self.catalog.years()

    def has_photos(self) -> bool:
        """Whether the library holds a readable photo (asked before every chat message)."""
        return self.catalog.any_photo()

    def stats(self) -> dict:
        """Counts, models and the data dir, for `stats` and the UI."""
        counts = self.catalog.counts()
        return {
            **counts,
            "models": {
                "clip": self.catalog.model("clip"),
                "face": self.catalog.model("face"),
                "clip_vectors": self.catalog.vector_models(),
            },
            "clip_requested": self.clip.spec,
            "clip_encoder": encoder_state(self.catalog, self.clip.spec),
            # Models in memory in this process (index/models/lifecycle.py), largest first.
            "loaded_models": loaded_models(),
            "data_dir": str(self.data_dir),
            "skipped_files": [{"path": p, "reason": r} for p, r in self.catalog.skipped()],
            "formats": self.catalog.format_counts(),
        }

    def duplicates(self, progress: Progress | None = None) -> list[duplicates.Group]:
        """Groups of exact copies and near-duplicates, each with the one to keep and why
        (index/duplicates.py); lists only, never deletes or moves a file."""
        with self._lock:
            if not self.read_only:
                duplicates.refresh_looks(self.catalog, self.settings, progress)
            backends = accepted_backends(self.catalog, self.clip)
            vectors = self.catalog.image_vectors(self.clip.spec, backends)
            return duplicates.library_groups(self.catalog, self.settings, vectors)

    # --- closing ---

    def close(self) -> None:
        """Release the catalog."""
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
