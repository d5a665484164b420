"""Words in photos: the folding both sides of a match share, real OCR on the demo photos,
and the words stage in the catalog (incremental, resumable, forgetting what changed)."""

from __future__ import annotations

import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from index import scan
from index.folding import fold, phrase_query
from index.library import Library
from index.ocr import ModelCopies, TextReader
from index.ocr_scripts import Reading, in_the_photos_script, written_in_japanese
from index.settings import Settings

DEMO = Path(__file__).resolve().parent.parent / "demo" / "photos"


def test_folding_ignores_case_accents_and_look_alike_characters():
    assert fold("Café CRÈME") == fold("cafe creme")
    assert fold("C0KE") == fold("coke")
    assert fold("lPA") == fold("IPA") == fold("iPA")
    assert fold("RODEO CLOWN iPA") == "rodeo clown lpa"
    assert fold("Stra\u00dfe") == fold("strasse")


def test_folding_splits_chinese_and_japanese_characters_into_tokens():
    assert fold("一番搾り") == "一 番 搾 り"
    assert '"一 番"' in phrase_query(["一番"])


def test_a_phrase_query_requires_every_phrase_and_cannot_be_injected():
    assert phrase_query(["rodeo clown", "IPA"]) == '"rodeo clown" AND "lpa"'
    assert phrase_query(['say "hi" OR *']) == '"say hl or"'
    assert phrase_query(["…", "  "]) is None


@pytest.fixture(scope="module")
def reader() -> TextReader:
    return TextReader(Settings())


def _read(reader: TextReader, name: str) -> list[dict]:
    decoded = scan.decode((DEMO / name).read_bytes(), Settings(), size=1600)
    return reader.read(decoded.image, decoded.scale)


def test_the_beer_board_is_read_with_boxes_in_original_pixels(reader):
    lines = _read(reader, "craft-beer.jpg")
    words = fold(" ".join(line["text"] for line in lines))
    assert "rodeo clown lpa" in words and "weekend warrlor" in words
    width = scan.decode((DEMO / "craft-beer.jpg").read_bytes(), Settings()).width
    for line in lines:
        x1, y1, x2, y2 = line["box"]
        assert 0 <= x1 < x2 <= width + 1 and y1 < y2
        assert 0.6 <= line["confidence"] <= 1.0


def test_the_japanese_shop_front_is_read_in_japanese_and_latin_letters(reader):
    # PP-OCRv6 reads the brewery's name in both scripts; PP-OCRv4 read only "一番" of it.
    words = fold(" ".join(line["text"] for line in _read(reader, "japanese-shop.jpg")))
    assert fold("一番搾り") in words and fold("KIRIN") in words and fold("キリン") in words
    # Decoded as Chinese, the sign 取扱店 ("sold here") reads 取报店: 报 is no Japanese kanji.
    assert fold("取扱店") in words


def test_han_characters_japanese_does_not_write_are_told_apart():
    assert all(written_in_japanese(c) for c in "取扱店営業中一番搾りキリンKIRIN ß1!")
    assert not any(written_in_japanese(c) for c in "报营极这们")


def test_a_photo_with_kana_takes_the_japanese_decoding_and_others_keep_theirs():
    sign = Reading("取报店", 0.85, ("取扱店", 0.7))
    brand = Reading("キリン", 0.96, None)
    assert in_the_photos_script([brand, sign], 2, 0.6) == [("キリン", 0.96), ("取扱店", 0.7)]
    # A Chinese menu (no kana) keeps its simplified characters.
    assert in_the_photos_script([sign], 2, 0.6) == [("取报店", 0.85)]
    # Kana in a line read too unsure to keep do not make the photo Japanese.
    unsure = Reading("キリン", 0.3, None)
    assert in_the_photos_script([unsure, sign], 2, 0.6)[1] == ("取报店", 0.85)


def test_a_photo_of_a_flower_has_no_words(reader):
    assert _read(reader, "cyclamen_persicum.jpg") == []


def test_openvino_and_onnx_runtime_read_the_same_lines(reader):
    # OpenVINO (the default) runs the same networks in fp32: the same words, boxes, scores.
    in_onnxruntime = TextReader(Settings(ocr_runtime="onnxruntime"))
    assert reader.settings.ocr_runtime == "openvino"
    ours, theirs = _read(reader, "japanese-shop.jpg"), _read(in_onnxruntime, "japanese-shop.jpg")
    assert [line["text"] for line in ours] == [line["text"] for line in theirs]
    for mine, other in zip(ours, theirs, strict=True):
        assert mine["box"] == pytest.approx(other["box"], abs=1.0)
        assert mine["confidence"] == pytest.approx(other["confidence"], abs=1e-3)


def test_keeping_no_shapes_in_openvinos_cache_reads_the_same_lines(reader):
    # Photos of many sizes made OpenVINO's per-shape cache (5000 shapes by its default) grow
    # with every photo; the reader keeps 64 (`ocr_shape_cache`) or none, and reads the same.
    assert reader.settings.ocr_shape_cache == 64
    cached = TextReader(Settings(ocr_shape_cache=5000))
    none = TextReader(Settings(ocr_shape_cache=0))
    for name in ("japanese-shop.jpg", "craft-beer.jpg"):
        ours = _read(reader, name)
        for theirs in (_read(cached, name), _read(none, name)):
            assert ours and [(x["text"], x["box"]) for x in ours] == [
                (x["text"], x["box"]) for x in theirs
            ]
            # Scores may differ in the 7th digit (kernels prepared anew).
            for mine, other in zip(ours, theirs, strict=True):
                assert mine["confidence"] == pytest.approx(other["confidence"], abs=1e-5)


def test_photos_read_side_by_side_read_as_one_at_a_time():
    reader = TextReader(Settings(ocr_readers=2))
    alone = _read(reader, "japanese-shop.jpg")
    with ThreadPoolExecutor(3) as pool:
        side_by_side = list(pool.map(lambda _: _read(reader, "japanese-shop.jpg"), range(3)))
    assert side_by_side == [alone] * 3
    assert reader.models.get().made <= 2  # never more copies than `ocr_readers`


def test_each_thread_borrows_a_copy_no_other_uses_and_waits_when_all_are_lent():
    loaded = []
    copies = ModelCopies(lambda: loaded.append(object()) or (loaded[-1], None), limit=2)
    both_lent, in_use = threading.Barrier(2), []

    def hold():
        with copies.lend() as (model, _):
            in_use.append(model)
            both_lent.wait(timeout=10)  # two copies out at once

    first, second = threading.Thread(target=hold), threading.Thread(target=hold)
    for thread in (first, second):
        thread.start()
    for thread in (first, second):
        thread.join()
    assert len(loaded) == 2 and in_use[0] is not in_use[1]
    with copies.lend() as (model, _), copies.lend() as (other, _):
        assert model is not other and len(loaded) == 2  # given back, lent again
        waiting = threading.Thread(target=lambda: copies.lend().__enter__())
        waiting.start()
        waiting.join(timeout=0.2)
        assert waiting.is_alive()  # a third borrower waits for one to come back
    waiting.join(timeout=10)
    assert not waiting.is_alive() and len(loaded) == 2


@pytest.fixture()
def library(tmp_path: Path) -> Library:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("craft-beer.jpg", "cyclamen_persicum.jpg"):
        shutil.copy(DEMO / name, folder / name)
    lib = Library(tmp_path / "data", clip="local-dir:/nonexistent", faces=False)
    lib.index(folder)
    yield lib
    lib.close()


def _found(lib: Library, *phrases: str) -> set[str]:
    ids = lib.catalog.photos_with_text(phrase_query(phrases))
    return {Path(lib.catalog.photo(i)["path"]).name for i in ids}


def test_the_words_stage_reads_each_photo_once_and_makes_it_searchable(library):
    folder = Path(library.catalog.photos_under("/").popitem()[0]).parent
    first = library.read_words(folder)
    assert (first.read, first.with_text) == (2, 1)
    assert _found(library, "rodeo clown") == {"craft-beer.jpg"}
    assert _found(library, "RODEO", "weekend warrior") == {"craft-beer.jpg"}
    assert _found(library, "rodeo clown", "cyclamen") == set()
    again = library.read_words(folder)
    assert again.read == 0  # resumable: what was read stays read


def test_a_changed_or_deleted_photo_loses_its_words(library):
    folder = Path(library.catalog.photos_under("/").popitem()[0]).parent
    library.read_words(folder)
    beer = folder / "craft-beer.jpg"
    shutil.copy(DEMO / "mongolels.jpg", beer)  # same name, other picture
    library.index(folder)
    assert _found(library, "rodeo clown") == set()
    assert library.read_words(folder).read == 1
    beer.unlink()
    library.index(folder)
    counts = library.catalog.text_counts(library.words_reader.model_id)
    assert counts == {"read": 1, "with_text": 0}


def test_ocr_off_reads_nothing(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(DEMO / "craft-beer.jpg", folder)
    with Library(tmp_path / "data", clip="local-dir:/nonexistent", faces=False, ocr=False) as lib:
        lib.index(folder)
        assert lib.read_words(folder).read == 0


def test_the_words_pass_lets_go_of_the_models_only_indexing_uses(tmp_path, tiny_clip_spec):
    # The OCR networks do not come on top of the face models and CLIP's image tower (~460 MB
    # with ViT-B-32): they are dropped before the words are read, and load again when the
    # next photo is indexed. CLIP's text tower stays for searches by description.
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("craft-beer.jpg", "portrait.jpg"):
        shutil.copy(DEMO / name, folder / name)
    exported = Settings(clip_backend="auto")  # the tests' default is torch
    lib = Library(tmp_path / "data", clip=tiny_clip_spec, settings=exported, faces=True)
    try:
        lib.index(folder)
        faces, towers = lib._face_stage().analyzer, lib.clip._exported
        assert faces.loaded and towers._image is not None
        assert lib.read_words(folder).with_text == 1
        assert not faces.loaded and towers._image is None and towers.text is not None
        shutil.copy(DEMO / "portrait-orientation-6.jpg", folder / "rotated.jpg")
        assert lib.index(folder).new == 1
        assert faces.loaded and towers._image is not None
    finally:
        lib.close()
