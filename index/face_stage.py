"""The indexer's face stage: find and embed the faces of each photo, store them, cluster them.

Analysis runs in the indexer's decode workers (thread-safe), from the same decode as CLIP;
storing and clustering run inside the batch's transaction. The models are index/faces.py,
the people they are clustered into index/people.py.
"""

from __future__ import annotations

import functools
import io
from typing import Any

from index import layout, storage
from index.boxes import same_faces
from index.catalog import Catalog
from index.faces import Detail, FaceAnalyzer, KnownFace
from index.people import recluster
from index.settings import Settings
from index.stage import Run
from index.video_faces import video_faces


class FaceStage:
    """The indexer's face stage: detect and embed, store faces and crops, cluster each batch
    (see index/stage.py for the contract)."""

    name = "faces"
    doing = "finding faces"
    uses_worker_cores = True  # two photos analysed side by side, one torch thread each

    def __init__(self, settings: Settings, embedder: str | None = None):
        self.settings = settings
        self.analyzer = FaceAnalyzer(settings, embedder)
        self.model_id = self.analyzer.embedder_id
        # MTCNN searches the shared small copy; a photo with faces is decoded again, larger,
        # for their vectors and crops (`Decoded.detailed`).
        self.decode_size = settings.face_detect_size

    def begin(self, catalog: Catalog, run: Run) -> set[int] | None:
        """The photos under the folder whose faces were not found with this face model."""
        rows = catalog.photos_under(run.root or "/").values()
        return {r["id"] for r in rows if r["status"] == "ok" and r["faces_model"] != self.model_id}

    def analyze(self, decoded: Any) -> tuple[str, list, list[bytes]]:
        """Faces of one decoded photo plus a JPEG crop of each (photo hash, faces, crops).
        A video's faces are those of all its moments, one per person (index/video_faces.py).

        Thread-safe: the indexer calls it from its decode workers, so the face models of one
        photo run while CLIP encodes the previous batch.
        """
        if decoded.frames:
            scale = max(decoded.width, decoded.height) / max(decoded.frames[0].image.size)
            faces, crops = video_faces(
                decoded.frames,
                lambda image, known: self._faces(image, decoded, known=known),
                self.settings,
                scale,
            )
            return decoded.hash, faces, crops
        # Searched on the shared small copy; vectors and crops from a detailed copy of the
        # photo, decoded only when it has faces.
        detail = functools.cache(
            lambda: decoded.detailed(self.settings.face_image_size, self.settings)
        )
        faces, crops = self._faces(decoded.image, decoded, detail)
        return decoded.hash, faces, crops

    def _faces(
        self,
        image: Any,
        decoded: Any,
        detail: Detail | None = None,
        known: KnownFace | None = None,
    ) -> tuple[list, list[bytes]]:
        """The faces of one picture of `decoded` and a JPEG crop of each (`detail` and
        `known` as `FaceAnalyzer.analyze` takes them)."""
        scale = max(decoded.width, decoded.height) / max(image.size)
        faces = self.analyzer.analyze(image, scale, detail, known)
        if not faces:
            return [], []
        big, big_scale = detail() if detail is not None else (image, scale)
        crops = []
        for face in faces:
            buf = io.BytesIO()
            self.analyzer.crop(big, face, scale=big_scale).save(
                buf, "JPEG", quality=self.settings.jpeg_quality
            )
            crops.append(buf.getvalue())
        return faces, crops

    def batch(self, analysed: list[Any]) -> list[Any]:
        """Nothing more to do for the whole batch: each photo was analysed in a worker."""
        return analysed

    def write(
        self, catalog: Catalog, photo_id: int, analysed: tuple[str, list, list[bytes]]
    ) -> bool:
        """Write one photo's faces to the catalog and their crops next to the thumbnails;
        whether it has any."""
        photo_hash, faces, crops = analysed
        rows = [
            {
                "box": f.box,
                "landmarks": f.landmarks,
                "score": f.score,
                "vector": f.vector,
                "time_s": f.time_s,
            }
            for f in faces
        ]
        # Faces found again (e.g. re-embedded with another face model) keep what the user
        # said about them: the person, who decided it, and refusals.
        old = catalog.faces_of_photo(photo_id)
        refused = catalog.rejections(f["id"] for f in old) if old else {}
        ids = catalog.put_faces(photo_id, self.model_id, rows)
        for new_id, prev in zip(
            ids, same_faces([f.box for f in faces], old, self.settings.face_same_box), strict=True
        ):
            if prev is None:
                continue
            for person in refused.get(prev["id"], []):
                catalog.reject_face(new_id, person)
            catalog.assign_faces(
                [(new_id, prev["person_id"], prev["distance"])], source=prev["source"]
            )
        for k, jpeg in enumerate(crops):
            path = layout.face_crop_path(catalog.data_dir, photo_hash, k)
            if not path.exists():  # whole or not at all; a full disk is one clear line
                storage.atomic_write_bytes(path, jpeg)
        return bool(faces)

    def after_batch(self, catalog: Catalog, photo_ids: list[int]) -> None:
        """Cluster the faces of these photos into existing or new people."""
        catalog.record_model("face", self.model_id, self.analyzer.dim)
        recluster(catalog, self.settings, self.model_id, photo_ids=photo_ids)
        catalog.bump_generation("faces")

    def end(self, catalog: Catalog, run: Run) -> None:
        """Nothing waits for the end: every batch was clustered as it went."""
