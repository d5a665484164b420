"""Face detection and face vectors on real photos with the real MTCNN and dlib models."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pytest
from face_photos import (
    analyze,
    analyze_eval,
    analyzer,
    eval_photo,
    person_photos,
    side_by_side,
)
from PIL import Image, ImageOps

from index.errors import ModelUnavailable
from index.face_stage import FaceStage
from index.faces import FaceAnalyzer, plausible_landmarks
from index.models.mtcnn import Mtcnn, area_crops, ceil_max_pool, pyramid_scales
from index.scan import decode
from index.settings import Settings

pytestmark = pytest.mark.slow

MAX_D = Settings().face_max_distance


def largest(faces) -> np.ndarray:
    """The vector of the biggest face (the subject of a portrait)."""
    assert faces, "expected at least one face"
    return max(faces, key=lambda f: f.size).vector


def dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def test_analyzer_loads_nothing_until_used():
    fa = FaceAnalyzer(Settings())
    assert not fa.loaded
    assert fa.embedder_id == "dlib_resnet_v1" and fa.dim == 128
    fa.analyze(Image.new("RGB", (64, 64)))
    assert fa.loaded


def test_a_portrait_gives_one_face_with_a_128_d_vector_and_five_landmarks():
    faces = analyze_eval("angelina/4.jpg")
    assert len(faces) == 1
    face = faces[0]
    assert face.vector.shape == (128,) and face.vector.dtype == np.float32
    assert len(face.landmarks) == 5
    x1, y1, x2, y2 = face.box
    assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face.landmarks)
    assert face.score >= Settings().face_min_score


def test_mirrored_and_cropped_copies_of_one_face_match():
    photo = eval_photo("kit_harington/3.jpg")
    reference = largest(analyze(photo))
    w, h = photo.size
    copies = {
        "mirrored": ImageOps.mirror(photo),
        "cropped": photo.crop((w // 8, h // 10, w - w // 8, h - h // 4)),
        "half size": photo.resize((w // 2, h // 2)),
    }
    for name, copy in copies.items():
        d = dist(reference, largest(analyze(copy)))
        assert d < MAX_D, f"{name} copy is {d:.3f} from the original"


def test_same_person_is_closer_than_the_threshold_and_strangers_are_farther():
    people = person_photos()
    chosen = {name: people[name][:3] for name in ("colin_powell", "df_person_03", "rose_leslie")}
    vectors = {(name, p): largest(analyze_eval(p)) for name, ps in chosen.items() for p in ps}
    for (ka, va), (kb, vb) in itertools.combinations(vectors.items(), 2):
        d = dist(va, vb)
        if ka[0] == kb[0]:
            assert d < MAX_D, f"{ka[1]} and {kb[1]} are the same person but {d:.3f} apart"
        else:
            assert d > MAX_D, f"{ka[1]} and {kb[1]} are different people but {d:.3f} apart"


def test_boxes_and_landmarks_map_back_to_original_coordinates():
    photo = eval_photo("kit_harington/3.jpg")  # 768 x 1154
    full = analyzer().analyze(photo, 1.0)
    small = photo.resize((photo.width // 3, photo.height // 3))
    mapped = analyzer().analyze(small, 3.0)
    assert len(full) == len(mapped) == 1
    assert iou(full[0].box, mapped[0].box) > 0.8
    side = full[0].size
    for (xa, ya), (xb, yb) in zip(full[0].landmarks, mapped[0].landmarks, strict=True):
        assert abs(xa - xb) < 0.1 * side and abs(ya - yb) < 0.1 * side
    # The face sits in the photo's upper part; unscaled boxes would sit near the top left.
    assert full[0].box[2] > photo.width / 3


@pytest.mark.parametrize("rel", ["_nofaces/dlib_dog.jpg", "_nofaces/immich_el_torcal_rocks.jpg"])
def test_a_photo_without_a_face_gives_no_faces(rel):
    assert analyze_eval(rel) == ()


def test_a_blank_image_gives_no_faces():
    assert analyzer().analyze(Image.new("RGB", (640, 480), (200, 190, 180))) == []


def test_faces_come_left_to_right_and_two_faces_differ():
    left, right = eval_photo("george_w_bush/1.jpg"), eval_photo("colin_powell/1.jpg")
    faces = analyze(side_by_side(left, right))
    assert len(faces) == 2
    centres = [(f.box[0] + f.box[2]) / 2 for f in faces]
    assert centres == sorted(centres)
    assert dist(faces[0].vector, largest(analyze(left))) < 0.2  # left face is Bush
    assert dist(faces[1].vector, largest(analyze(right))) < 0.2
    assert dist(faces[0].vector, faces[1].vector) > MAX_D


def test_faces_smaller_than_the_minimum_size_are_ignored():
    photo = eval_photo("angelina/4.jpg")
    side = analyze_eval("angelina/4.jpg")[0].size
    strict = FaceAnalyzer(Settings().override(face_min_size=int(side * 1.5)))
    strict.embedder, strict._mtcnn = analyzer().embedder, analyzer()._detector()
    assert strict.analyze(photo) == []


def test_crop_is_a_square_thumbnail_around_the_face():
    photo = eval_photo("kit_harington/3.jpg")
    small = photo.resize((photo.width // 2, photo.height // 2))
    face = analyzer().analyze(small, 2.0)[0]
    thumb = analyzer().crop(small, face, size=96, scale=2.0)
    assert thumb.size == (96, 96)
    # The crop holds the face: re-analysing it finds the same person.
    again = analyzer().analyze(thumb.resize((192, 192)))
    assert again and dist(again[0].vector, face.vector) < MAX_D


def test_jumbled_landmarks_are_not_a_face():
    face = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], float)
    assert plausible_landmarks(face)
    tilted = face @ np.array([[0.0, 1.0], [-1.0, 0.0]])  # a head lying on its side
    assert plausible_landmarks(tilted)
    mouth_above_eyes = face[[0, 1, 2, 3, 4]] * [1, -1]  # mirrored vertically
    assert not plausible_landmarks(mouth_above_eyes)
    assert not plausible_landmarks(np.zeros((5, 2)))


def test_vggface2_with_a_missing_weights_file_fails_with_a_clear_message(tmp_path):
    missing = tmp_path / "nope.pt"
    fa = FaceAnalyzer(Settings().override(face_vggface2_path=str(missing)), embedder="vggface2")
    assert fa.embedder_id == "facenet_vggface2"
    with pytest.raises(ModelUnavailable, match="does not exist"):
        fa.analyze(eval_photo("angelina/4.jpg"))


def test_vggface2_offline_and_not_cached_fails_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fa = FaceAnalyzer(Settings(), embedder="vggface2")
    with pytest.raises(ModelUnavailable, match="not on this computer"):
        fa.analyze(eval_photo("angelina/4.jpg"))


def test_an_unknown_embedder_is_refused():
    with pytest.raises(ModelUnavailable, match="dlib"):
        FaceAnalyzer(Settings(), embedder="nope")


def test_a_photo_bigger_than_the_detection_size_is_analysed_on_a_copy_in_its_own_coordinates():
    photo = eval_photo("kit_harington/3.jpg")
    big = photo.resize((photo.width * 2, photo.height * 2))  # 1536 x 2308: above 1280
    assert max(big.size) > Settings().face_image_size
    (face,) = analyzer().analyze(photo)
    (large,) = analyzer().analyze_photo(big)
    assert iou(large.box, tuple(v * 2 for v in face.box)) > 0.8
    assert dist(large.vector, face.vector) < MAX_D


@pytest.mark.parametrize(
    "shape", [(1, 10, 383, 287), (30, 28, 22, 22), (5, 64, 9, 9), (2, 3, 5, 4)]
)
@pytest.mark.parametrize("kernel", [2, 3])
def test_mtcnn_pooling_gives_torchs_own_numbers(shape, kernel):
    import torch
    import torch.nn.functional as F

    x = torch.randn(shape)
    assert torch.equal(ceil_max_pool(x, kernel, 2), F.max_pool2d(x, kernel, 2, ceil_mode=True))


@pytest.mark.parametrize("out", [(24, 24), (48, 48), (7, 30), (120, 90)])
@pytest.mark.parametrize("box", [(3, 4, 50, 65), (0, 0, 24, 24), (7, 2, 207, 15), (1, 0, 10, 500)])
def test_mtcnn_resizes_give_torchs_area_numbers(box, out):
    """Every resize of the cascade (pyramid levels, candidate crops, smaller or larger than
    the output) is read from one summed-area table, with torch's `mode="area"` numbers."""
    import cv2
    import torch
    import torch.nn.functional as F

    rgb = np.random.default_rng(1).integers(0, 256, (510, 220, 3), dtype=np.uint8)
    x0, y0, x1, y1 = box
    region = torch.from_numpy(rgb[y0:y1, x0:x1].astype(np.float32)).permute(2, 0, 1)[None]
    want = F.interpolate(region, size=out, mode="area")[0].permute(1, 2, 0).numpy()
    for depth in (cv2.CV_32S, cv2.CV_64F):
        sums = cv2.integral(rgb, sdepth=depth)
        (got,) = area_crops(sums, np.array([box]), *out)
        assert np.allclose(got, want, rtol=0, atol=1e-3)


def test_mtcnn_pyramid_looks_for_faces_from_the_smallest_size_up_to_the_largest_asked():
    every = pyramid_scales(480, 640, 40)
    assert every[0] == 12 / 40 and min(480, 640) * every[-1] >= 12  # 40 px up to the photo
    assert len(every) == 8
    finer = pyramid_scales(480, 640, 20, max_face=40)
    assert finer[0] == 12 / 20 and all(12 / s <= 40 for s in finer) and len(finer) == 3
    assert pyramid_scales(480, 640, 40, max_face=30) == []


@pytest.mark.parametrize("engine", ["torch", "openvino"])
def test_mtcnn_finds_the_same_faces_as_facenets_own_code(engine):
    """Our cascade (resizes from a summed-area table, numpy bookkeeping; R-net and O-net
    in torch or OpenVINO) finds what facenet-pytorch's own `detect_face` finds with the same
    networks, to 0.01 px, every candidate O-net kept, however low its score."""
    from facenet_pytorch import MTCNN

    demo = Path(__file__).resolve().parents[1] / "demo" / "photos"
    found = 0
    ours = Mtcnn(engine=engine)
    assert ours.engine == engine
    for name in ("portrait.jpg", "mongolels.jpg", "picasa.jpg", "craft-beer.jpg"):
        photo = ImageOps.exif_transpose(Image.open(demo / name)).convert("RGB")
        photo.thumbnail((640, 640))
        for min_face in (20, 40):
            fast = ours.detect(np.asarray(photo), min_face)
            boxes, scores, points = MTCNN(keep_all=True, min_face_size=min_face).detect(
                photo, landmarks=True
            )
            if boxes is None:
                assert len(fast.boxes) == 0, name
                continue
            assert len(fast.boxes) == len(boxes), name
            order = np.argsort(fast.boxes[:, 0])
            own = np.argsort(np.asarray(boxes, float)[:, 0])
            assert np.allclose(fast.boxes[order], np.asarray(boxes, float)[own], atol=0.01)
            assert np.allclose(fast.scores[order], np.asarray(scores, float)[own], atol=1e-4)
            assert np.allclose(fast.landmarks[order], np.asarray(points, float)[own], atol=0.01)
            found += len(fast.boxes)
    assert found >= 4  # faces were compared, not only empty lists


def test_mtcnn_falls_back_to_torch_when_openvino_cannot_run_its_networks(monkeypatch):
    from index.models import mtcnn

    def broken(*args):
        raise RuntimeError("no CPU plugin")

    monkeypatch.setattr(mtcnn, "_openvino_net", broken)
    detector = Mtcnn(engine="openvino")
    assert detector.engine == "torch"
    photo = ImageOps.exif_transpose(Image.open(DEMO / "portrait.jpg")).convert("RGB")
    photo.thumbnail((640, 640))
    assert len(detector.detect(np.asarray(photo), 40).boxes) >= 1


def test_a_camera_photo_is_searched_small_and_its_faces_taken_from_a_detailed_copy(tmp_path):
    photo = eval_photo("kit_harington/3.jpg")
    big = photo.resize((photo.width * 4, photo.height * 4), Image.Resampling.BICUBIC)
    big.save(tmp_path / "camera.jpg", quality=92)
    settings = Settings()
    stage = FaceStage(settings)
    decoded = decode((tmp_path / "camera.jpg").read_bytes(), settings, size=stage.decode_size)
    assert decoded.scale == 8  # the 1/8 draft decode is all the detector sees
    _, faces, crops = stage.analyze(decoded)
    (reference,) = analyzer().analyze_photo(big)  # the whole photo at the detailed size
    (face,) = faces
    assert iou(face.box, reference.box) > 0.8
    assert dist(face.vector, reference.vector) < MAX_D / 2
    assert Image.open(io.BytesIO(crops[0])).size == (settings.face_crop_size,) * 2


def test_a_camera_photo_without_faces_is_decoded_once(tmp_path, monkeypatch):
    blank = Image.new("RGB", (4000, 3000), (90, 120, 160))
    blank.save(tmp_path / "sky.jpg", quality=92)
    decoded = decode((tmp_path / "sky.jpg").read_bytes(), Settings(), size=640)

    def never(*args):
        raise AssertionError("decoded again although no face was found")

    monkeypatch.setattr(type(decoded), "detailed", never)
    assert FaceStage(Settings()).analyze(decoded)[1:] == ([], [])


# --- photos that ship with the repository (demo/photos): these run on any clone ---

DEMO = Path(__file__).resolve().parents[1] / "demo" / "photos"


def demo_photo(name: str) -> Image.Image:
    """A demo photo, EXIF-rotated to upright RGB, as the indexer sees it."""
    with Image.open(DEMO / name) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


def test_marie_curie_facing_the_camera_is_found_in_the_1904_portrait():
    # Marie and Pierre Curie, c. 1904. MTCNN finds Marie, who faces the camera; Pierre is in
    # profile and is not found (a known limit of frontal face detectors).
    marie = max(analyze(demo_photo("portrait.jpg")), key=lambda f: f.size)
    x1, y1, x2, y2 = marie.box
    assert 250 < (x1 + x2) / 2 < 380 and 150 < (y1 + y2) / 2 < 300  # her face, upper left
    assert y2 - y1 > 80 and marie.score > 0.99
    assert plausible_landmarks(np.array(marie.landmarks))


def test_the_second_look_finds_pierre_curie_in_profile_beside_marie():
    # dlib's CNN detector, after MTCNN, finds the face MTCNN passes over: Pierre, in profile,
    # upper right. Marie is still MTCNN's (with landmarks); his face comes without any.
    photo = demo_photo("portrait.jpg")
    plain = FaceAnalyzer(Settings()).analyze(photo)
    looked = FaceAnalyzer(Settings(face_second_look=True)).analyze(photo)
    assert len(looked) == len(plain) + 1
    marie, pierre = looked  # left to right
    assert marie.box == plain[0].box and len(marie.landmarks) == 5
    x1, y1, x2, y2 = pierre.box
    assert 500 < (x1 + x2) / 2 < 660 and 100 < (y1 + y2) / 2 < 240 and y2 - y1 > 60
    assert pierre.landmarks == () and pierre.vector.shape == (128,)
    assert dist(pierre.vector, marie.vector) > MAX_D  # two people, not one face twice


def test_a_photo_stored_rotated_gives_the_same_faces_in_the_same_places():
    upright = analyze(demo_photo("portrait.jpg"))
    rotated = analyze(demo_photo("portrait-orientation-6.jpg"))  # EXIF orientation 6
    assert len(upright) == len(rotated) >= 1
    for a, b in zip(upright, rotated, strict=True):
        assert max(abs(p - q) for p, q in zip(a.box, b.box, strict=True)) <= 3
        assert dist(a.vector, b.vector) < MAX_D / 2  # the same face, whichever way it was stored


def test_dlibs_face_network_run_by_torch_gives_dlibs_own_vectors():
    """The same weights and arithmetic as dlib's compute_face_descriptor, on real faces:
    one portrait, a couple, a selfie of several (a batch of chips)."""
    import dlib

    from index.models.dlib_resnet import DlibResNet

    embedder = analyzer().embedder
    shape, resnet = embedder._load()
    assert isinstance(resnet, DlibResNet)  # the default runs dlib's network in torch
    own = dlib.face_recognition_model_v1(embedder._files()[1])
    compared = 0
    for name in ("angelina/4.jpg", "_groups/df_couple.jpg", "_groups/df_selfie-many-people.jpg"):
        photo = eval_photo(name)
        rgb = np.asarray(photo)
        faces = analyzer().detect(photo)
        shapes = dlib.full_object_detections()
        for f in faces:
            shapes.append(shape(rgb, dlib.rectangle(*(round(v) for v in f.box))))
        want = np.array([np.array(v) for v in own.compute_face_descriptor(rgb, shapes, 0)])
        got = embedder.embed(rgb, faces)
        assert got.shape == want.shape == (len(faces), 128)
        assert np.abs(got - want).max() < 1e-5, name
        compared += len(faces)
    assert compared >= 5


def test_a_dlib_weights_file_cut_short_is_refused_by_name(tmp_path):
    from index.models.dlib_resnet import DlibFormatError, DlibResNet

    whole = Path(analyzer().embedder._files()[1]).read_bytes()
    cut = tmp_path / "cut.dat"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DlibFormatError):
        DlibResNet(str(cut))
