"""The front door of `index/`: open a data dir, index folders, search, manage people."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index import scan
from index.catalog import Catalog, PhotoRow, path_text
from index.errors import CatalogError, InvalidInput, NotFound
from index.indexer import FaceStage, Indexer, IndexReport, Progress, accepted_backends
from index.models import ClipModel
from index.people import PeopleMixin
from index.search import Searcher
from index.settings import DEFAULT_CLIP, Settings, default_data_dir
from index.types import Query, SearchResult
from index.vectors import VectorStore

if TYPE_CHECKING:
    from PIL import Image


class Library(PeopleMixin):
    """One photo library: its catalog, its models (loaded lazily) and its vector indexes."""

    def __init__(
        self,
        data_dir: Path | str | None = None,
        clip: str | None = None,
        settings: Settings | None = None,
        read_only: bool = False,
        faces: bool = True,
    ):
        self.settings = settings or Settings.from_env()
        self.data_dir = Path(data_dir).expanduser() if data_dir else default_data_dir()
        self.read_only = read_only
        self.catalog = Catalog(self.data_dir, read_only=read_only)
        recorded = self.catalog.model("clip")
        self.clip_spec_requested = clip
        # An explicit but empty spec (--clip "") is a mistake to report, not the default.
        spec = clip if clip is not None else (recorded["spec"] if recorded else DEFAULT_CLIP)
        self.clip = ClipModel(
            spec,
            threads=self.settings.torch_threads,
            backend=self.settings.clip_backend,
            cache_dir=self.data_dir / "encoders",
            settings=self.settings,
        )
        self.images = VectorStore(self.data_dir, "images", self.settings)
        self._images_built = float("-inf")  # when image_index last made sure it was current
        self._faces_enabled = faces
        self._face_stage: FaceStage | None = None
        # Writes (index, people edits) take it; reads do not, so threads sharing one Library
        # serialise their own calls (the chat's Assistant.lock).
        self._lock = threading.RLock()
        self._searcher: Searcher | None = None

    def sibling(self) -> Library:
        """Another Library on this data dir with its own catalog connection (for a thread),
        sharing this one's models: one copy of the weights in memory."""
        other = Library(
            self.data_dir, clip=self.clip_spec_requested, settings=self.settings,
            read_only=self.read_only, faces=self._faces_enabled,
        )  # fmt: skip
        other.clip = self.clip
        return other

    # --- models ---

    def model_mismatch(self) -> str | None:
        """A message when the requested CLIP model differs from the one the vectors came from."""
        models = {m: n for m, n in self.catalog.vector_models().items() if m != self.clip.spec}
        if not models:
            return None
        old = ", ".join(f"{m} ({n} photos)" for m, n in models.items())
        return (
            f"This library's image vectors were made with {old}, not {self.clip.spec}. "
            "Vectors of two models are never mixed: run `python app.py index FOLDER "
            f"--clip {self.clip.spec} --reembed` to re-embed every photo with the new model, "
            "or leave out --clip to keep the old one."
        )

    def face_stage(self) -> FaceStage | None:
        """The face detector + clusterer used while indexing (None when faces are off)."""
        if not self._faces_enabled:
            return None
        if self._face_stage is None:
            from index.faces import FaceIndexing

            self._face_stage = FaceIndexing(self.settings)
        return self._face_stage

    def text_model_problem(self) -> str | None:
        """Why searching by description cannot work here (a cheap look, no weights loaded)."""
        return self.clip.check()

    def text_model_loaded(self) -> bool:
        """Whether the CLIP weights are in memory (the next description search is quick)."""
        return self.clip.loaded

    def text_model_ready(self) -> bool:
        """Load CLIP if needed; whether searching by description works. Never raises."""
        return self.clip.is_available()

    # --- indexing ---

    def index(
        self, folder: Path | str, progress: Progress | None = None, reembed: bool = False
    ) -> IndexReport:
        """Index a folder incrementally (see `Indexer.run`)."""
        with self._lock:
            mismatch = self.model_mismatch() or (self._faces_enabled and self.face_model_mismatch())
            if mismatch and not reembed:
                raise CatalogError(mismatch)
            if mismatch:
                with self.catalog.transaction():
                    self.catalog.delete_vectors_not_of(self.clip.spec)
                    self.catalog.bump_generation("images")
            indexer = Indexer(self.catalog, self.settings, self.clip, self.face_stage())
            report = indexer.run(Path(folder), progress)
            if self.clip.is_available():
                self.image_index(fresh=True)  # rebuild and save now, not at the first query
            return report

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
            self.catalog.vector_count(spec, backends),
            lambda: self.catalog.image_vectors(spec, backends),
            persist=not self.read_only,
        )
        self._images_built = time.monotonic()
        return self.images

    # --- search (the work lives in index/search.py) ---

    def search(self, query: Query) -> SearchResult:
        """Photos matching a parsed query, best first, each with its reasons."""
        return self._search().search(query)

    def search_like(
        self, ref: str | Path | Image.Image, limit: int | None = None, text: str = ""
    ) -> SearchResult:
        """Photos that look like a library photo (never itself), an image file or an upload."""
        if isinstance(ref, str | Path) and not self._is_library_photo(ref) and os.path.isfile(ref):
            # A photo from outside the library: use its pixels.
            name = path_text(Path(ref).name)
            return self._search().search_like(self._open_image(ref), limit, text, name=name)
        return self._search().search_like(ref, limit, text)

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
            return scan.decode(scan.read_bytes(os.fspath(path)), limits).image
        except scan.Unreadable as err:
            raise InvalidInput(f"I can't use that file as a photo: {err}.") from err

    def _is_library_photo(self, ref: str | Path) -> bool:
        try:
            self.resolve_photo(ref)
        except NotFound:
            return False
        return True

    def _open_image(self, path: str | Path) -> Image.Image:
        """The pixels of an image file (reduced as when indexing); refuses non-images clearly."""
        try:
            return scan.decode(scan.read_bytes(os.fspath(path)), self.settings).image
        except scan.Unreadable as err:
            raise InvalidInput(
                f"{path_text(path)} cannot be used as an example photo: {err}."
            ) from err

    def photo_info(self, photo_id: int) -> dict:
        """One photo's details for a larger view: path, thumbnail, date, place, people, size."""
        return self._search().photo_info(photo_id)

    def _search(self) -> Searcher:
        if self._searcher is None:
            self._searcher = Searcher(self)
        return self._searcher

    # --- looking things up ---

    def resolve_photo(self, ref: str | Path) -> PhotoRow:
        """A photo of the library from a path (absolute or relative) or a unique file name."""
        # path_text: a name that is not valid UTF-8 is looked up as the catalog writes it.
        shown = path_text(ref)
        text = path_text(os.path.realpath(ref)) if os.path.exists(ref) else shown
        row = self.catalog.photo_by_path(text)
        if row is not None and row["status"] == "ok":
            return row
        matches = self.catalog.find_photos(shown.lstrip("./"))
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise NotFound(f"{shown} is not a photo in this library (see `python app.py stats`).")
        names = ", ".join(m["path"] for m in matches[:5])
        raise NotFound(f"{shown} matches several photos ({names}); give more of the path.")

    def names_in_photos(self, photo_ids: list[int]) -> dict[int, list[str]]:
        """Every named person of each photo, left to right (for a photo's larger view)."""
        out: dict[int, list[str]] = {}
        for f in self.catalog.faces_in_photos(photo_ids):
            names = out.setdefault(f["photo_id"], [])
            if f["name"] and f["name"] not in names:
                names.append(f["name"])
        return out

    def thumbnail(self, row: PhotoRow) -> str | None:
        """The cached thumbnail file of a photo, if there is one."""
        if not row.get("hash"):
            return None
        path = scan.thumbnail_path(self.data_dir, row["hash"])
        return str(path) if path.exists() else None

    def photo_vector(self, row: PhotoRow) -> np.ndarray:
        """The CLIP vector of a library photo (computed now if it has none yet)."""
        vec = self.catalog.image_vector(row["id"], self.clip.spec)
        if vec is None:
            vec = self.clip.encode_images([scan.open_rgb(os.fsdecode(row["path_raw"]))])[0]
        return vec

    def places(self) -> list[str]:
        """Place names a query can use: each city and country of the photos, most photos first."""
        parts = (part.strip() for place in self.catalog.places() for part in place.split(","))
        return list(dict.fromkeys(p for p in parts if p))

    def years(self) -> list[int]:
        """Years with photos, most photos first (for example queries)."""
        return self.catalog.years()

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
            "data_dir": str(self.data_dir),
            "skipped_files": [{"path": p, "reason": r} for p, r in self.catalog.skipped()],
        }

    def close(self) -> None:
        """Release the catalog."""
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
