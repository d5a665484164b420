"""Clustering faces into people: pure functions on synthetic vectors, then real faces."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from face_photos import analyze, analyze_eval, eval_faces_dir, eval_photo, side_by_side

from index.clustering import NO_PERSON, ClusterResult, FaceSet, assign_new_faces, cluster_all
from index.errors import CatalogError, InvalidInput, NotFound
from index.face_stage import FaceStage
from index.faces import EMBEDDERS, DlibEmbedder
from index.library import Library
from index.people import recluster
from index.settings import Settings

S = Settings()
DIM = 128


class Faces:
    """Builds synthetic faces: each person a random centre, each face a small step from it."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.centres: dict[str, np.ndarray] = {}
        self.rows: list[tuple[int, int, np.ndarray]] = []  # (face id, photo id, vector)
        self.truth: dict[int, str] = {}

    def centre(self, who: str) -> np.ndarray:
        if who not in self.centres:  # random unit vectors in 128-d are ~1.41 apart
            c = self.rng.normal(size=DIM)
            self.centres[who] = c / np.linalg.norm(c)
        return self.centres[who]

    def face(self, who: str, photo: int, spread: float = 0.15) -> int:
        noise = self.rng.normal(size=DIM)
        vector = self.centre(who) + spread * noise / np.linalg.norm(noise)
        face_id = len(self.rows) + 1
        self.rows.append((face_id, photo, vector))
        self.truth[face_id] = who
        return face_id

    def photos(self, who: str, n: int, first_photo: int) -> list[int]:
        return [self.face(who, first_photo + i) for i in range(n)]

    def set(self, ids=None, persons=None, locked=None) -> FaceSet:
        rows = [r for r in self.rows if ids is None or r[0] in set(ids)]
        fs = FaceSet([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
        p = np.array([(persons or {}).get(r[0], NO_PERSON) for r in rows], np.int64)
        lk = np.array([r[0] in (locked or set()) for r in rows], bool)
        return FaceSet(fs.ids, fs.photos, fs.vectors, p, lk)


def groups(result: ClusterResult) -> set[frozenset[int]]:
    """The result as a partition: one set of face ids per person, new or existing."""
    by_person: dict[int, set[int]] = {}
    for face, person in result.joined.items():
        by_person.setdefault(person, set()).add(face)
    return {frozenset(g) for g in result.new_people} | {frozenset(g) for g in by_person.values()}


def test_well_separated_people_form_one_person_each():
    f = Faces()
    alice = f.photos("alice", 6, 100)
    bob = f.photos("bob", 4, 200)
    lone = f.face("carol", 300)
    result = cluster_all(f.set(), S)
    assert groups(result) == {frozenset(alice), frozenset(bob)}
    assert result.new_people[0] == tuple(alice)  # largest first
    assert result.unassigned == (lone,)


def test_two_photos_of_one_person_make_a_person_when_their_faces_are_very_close():
    rng = np.random.default_rng(3)
    centre = rng.normal(size=DIM)
    centre /= np.linalg.norm(centre)
    step = rng.normal(size=DIM)
    step /= np.linalg.norm(step)
    close = [centre, centre + 0.2 * step]  # 0.2 apart: well within face_pair_distance
    loose = [-centre, -centre + 0.5 * step]  # 0.5 apart: the same person maybe, not surely
    faces = FaceSet([1, 2, 3, 4], [10, 11, 20, 21], np.stack(close + loose))
    result = cluster_all(faces, S)
    assert groups(result) == {frozenset({1, 2})}
    assert result.unassigned == (3, 4)


def test_two_faces_in_one_photo_are_never_the_same_person():
    f = Faces()
    alice = f.photos("alice", 6, 100)
    # Photo 150 holds Alice and someone who looks just like her (a twin, a reflection).
    twin_a, twin_b = f.face("alice", 150, spread=0.1), f.face("alice", 150, spread=0.1)
    result = cluster_all(f.set(), S)
    for group in groups(result):
        assert not {twin_a, twin_b} <= group
    assert any(set(alice) <= g for g in groups(result))


def test_two_faces_in_one_photo_never_join_the_same_existing_person():
    f = Faces()
    alice = f.photos("alice", 5, 100)
    twin_a, twin_b = f.face("alice", 150, spread=0.1), f.face("alice", 150, spread=0.1)
    existing = f.set(alice, persons=dict.fromkeys(alice, 7))
    result = assign_new_faces(f.set([twin_a, twin_b]), existing, S)
    assert list(result.joined.values()).count(7) == 1
    assert len(result.joined) + len(result.unassigned) == 2


def test_a_face_never_joins_a_person_already_in_its_photo():
    f = Faces()
    alice = f.photos("alice", 5, 100)
    # Photo 103 already has Alice; a second Alice-like face is found in it later.
    late = f.face("alice", 103, spread=0.05)
    existing = f.set(alice, persons=dict.fromkeys(alice, 7))
    result = assign_new_faces(f.set([late]), existing, S)
    assert result.joined == {} and result.unassigned == (late,)


def mentioned(result: ClusterResult) -> set[int]:
    """Every face id the result says anything about."""
    return set(result.joined) | set(result.unassigned) | {i for g in result.new_people for i in g}


def test_user_assigned_faces_are_never_moved():
    f = Faces()
    bob = f.photos("bob", 5, 200)
    # The user said this Bob-like face is person 9 (say, Bob's brother): clustering obeys.
    brother = f.face("bob", 250)
    faces = f.set(persons={**dict.fromkeys(bob, 2), brother: 9}, locked={brother})
    new_bob = f.face("bob", 260)
    assert brother not in mentioned(cluster_all(faces, S))
    assert brother not in mentioned(assign_new_faces(f.set([new_bob]), faces, S))


def test_naming_one_face_pulls_its_cluster_into_that_person():
    f = Faces()
    alice = f.photos("alice", 5, 100)
    result = cluster_all(f.set(persons={alice[0]: 9}, locked={alice[0]}), S)
    assert result.joined == dict.fromkeys(alice[1:], 9)


def test_a_face_too_lonely_to_cluster_joins_a_named_neighbour():
    f = Faces()
    named, other = f.photos("carol", 2, 100)  # two photos only: no core face
    faces = f.set(persons={named: 9}, locked={named})
    assert cluster_all(faces, S).joined == {other: 9}
    assert assign_new_faces(f.set([other]), f.set([named], {named: 9}, {named}), S).joined == {
        other: 9
    }


def test_rejected_faces_stay_where_the_user_left_them():
    f = Faces()
    alice = f.photos("alice", 5, 100)
    rejected = f.face("alice", 150)  # "that is not Alice"
    faces = f.set(persons=dict.fromkeys(alice, 7), locked={rejected})
    result = cluster_all(faces, S)
    assert rejected not in result.joined and rejected not in result.unassigned
    assert all(rejected not in g for g in result.new_people)


def test_new_faces_join_existing_people_without_touching_others():
    f = Faces()
    alice, bob = f.photos("alice", 5, 100), f.photos("bob", 5, 200)
    far_unassigned = f.face("zed", 900)
    persons = {**dict.fromkeys(alice, 1), **dict.fromkeys(bob, 2)}
    new_alice = [f.face("alice", 400), f.face("alice", 401)]
    new_carol = f.photos("carol", 3, 500)
    stranger = f.face("dave", 600)
    existing = f.set(alice + bob + [far_unassigned], persons=persons)
    result = assign_new_faces(f.set(new_alice + new_carol + [stranger]), existing, S)
    assert result.joined == dict.fromkeys(new_alice, 1)
    assert result.new_people == (tuple(new_carol),)
    assert result.unassigned == (stranger,)  # the far old face is not even looked at


def test_a_new_photo_wakes_unassigned_neighbours_into_a_person():
    f = Faces()
    old = f.photos("carol", 2, 100)  # two photos, not near-identical: not somebody yet
    loose = S.override(face_pair_distance=0.1)
    first = cluster_all(f.set(), loose)
    assert first.new_people == () and set(first.unassigned) == set(old)
    new = f.face("carol", 102)
    result = assign_new_faces(f.set([new]), f.set(old), loose)
    assert result.new_people == (tuple(sorted([*old, new])),)


def test_existing_people_are_never_merged_by_clustering():
    f = Faces()
    a = f.photos("alice", 4, 100)
    b = f.photos("alice", 4, 200)  # the same look, but the user keeps two people apart
    existing = f.set(persons={**dict.fromkeys(a, 1), **dict.fromkeys(b, 2)})
    new = f.photos("alice", 3, 300)
    result = assign_new_faces(f.set(new), existing, S)
    assert set(result.joined) == set(new) and set(result.joined.values()) <= {1, 2}
    assert not set(a + b) & set(result.joined)  # old faces keep their people


def test_incremental_batches_give_the_same_people_as_a_full_recluster():
    f = Faces(seed=3)
    photo = 0
    for who, n in [("a", 7), ("b", 5), ("c", 3), ("d", 9), ("e", 2), ("f", 1)]:
        f.photos(who, n, photo)
        photo += 100
    full = groups(cluster_all(f.set(), S))
    rng = np.random.default_rng(0)
    order = [int(i) for i in rng.permutation([r[0] for r in f.rows])]
    persons: dict[int, int] = {}
    seen: list[int] = []
    next_person = 1
    for start in range(0, len(order), 4):
        batch = order[start : start + 4]
        result = assign_new_faces(f.set(batch), f.set(seen, persons=persons), S)
        persons.update(result.joined)
        for g in result.new_people:
            persons.update(dict.fromkeys(g, next_person))
            next_person += 1
        seen += batch
    by_person: dict[int, set[int]] = {}
    for face, person in persons.items():
        by_person.setdefault(person, set()).add(face)
    assert {frozenset(g) for g in by_person.values()} == full
    assert len(full) == 5  # a to e (2 near-identical photos); f (1 photo) waits to be named


def test_empty_inputs_give_an_empty_result():
    empty = FaceSet(np.zeros(0), np.zeros(0), np.zeros((0, DIM)))
    assert cluster_all(empty, S) == ClusterResult({}, (), ())
    assert assign_new_faces(empty, empty, S) == ClusterResult({}, (), ())


# --- real faces, real models ---


def eval_faces(rels: list[str]) -> tuple[FaceSet, list[tuple[str, int]]]:
    """A FaceSet of every face in the given eval photos, plus (photo, face index) per row."""
    ids, photos, vectors, where = [], [], [], []
    for p, rel in enumerate(rels):
        for k, face in enumerate(analyze_eval(rel)):
            ids.append(len(ids))
            photos.append(p)
            vectors.append(face.vector)
            where.append((rel, k))
    return FaceSet(ids, photos, np.array(vectors)), where


@pytest.mark.slow
def test_clustering_the_public_faces_gives_one_person_per_person():
    root = eval_faces_dir()
    rels = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.suffix.lower() in {".jpg", ".png", ".webp"} and "_unknown_people" not in p.parts
    )
    faces, where = eval_faces(rels)
    result = cluster_all(faces, S)
    # The subject of a person-folder photo is its largest face.
    subject = {}
    for row, (rel, _) in enumerate(where):
        if not rel.startswith("_"):
            size = analyze_eval(rel)[where[row][1]].size
            if rel not in subject or size > subject[rel][1]:
                subject[rel] = (row, size)
    label_of = {row: rel.split("/")[0] for rel, (row, _) in subject.items()}
    per_person = Counter(label_of.values())
    found: dict[str, set[int]] = {}
    for g, group in enumerate(result.new_people):
        labels = Counter(label_of[i] for i in group if i in label_of)
        assert len(labels) <= 1, f"person {g} mixes {dict(labels)}"
        for label in labels:
            found.setdefault(label, set()).add(g)
            assert labels[label] == per_person[label], f"{label} is split"
    # Everyone with 3+ photos is found as exactly one person without any naming.
    assert {p for p, n in per_person.items() if n >= 3} <= set(found)
    assert all(len(gs) == 1 for gs in found.values())
    # Nothing in the no-face photos becomes (part of) a person.
    nofaces = {row for row, (rel, _) in enumerate(where) if rel.startswith("_nofaces")}
    assert not nofaces & {i for g in result.new_people for i in g}


@pytest.mark.slow
def test_two_photos_of_one_man_pasted_side_by_side_are_two_people():
    eval_faces_dir()
    rels = [f"george_w_bush/{i}.jpg" for i in range(1, 7)]
    library, _ = eval_faces(rels)
    pair = analyze(side_by_side(eval_photo(rels[0]), eval_photo(rels[1])))
    assert len(pair) == 2
    assert np.linalg.norm(pair[0].vector - pair[1].vector) < S.face_max_distance  # he, twice
    paired = FaceSet([100, 101], [99, 99], np.array([p.vector for p in pair]))
    for result in (
        cluster_all(FaceSet.concat([library, paired]), S),
        assign_new_faces(paired, library.subset(np.arange(len(library))), S),
    ):
        for group in groups(result):
            assert not {100, 101} <= group
    # With Bush already a person, one of the pair joins him and the other does not.
    known = FaceSet(library.ids, library.photos, library.vectors, np.full(len(library), 5))
    result = assign_new_faces(paired, known, S)
    assert list(result.joined.values()) == [5] and len(result.unassigned) == 1


# --- a library that knows people (real photos, real face models) ---

LIBRARY_PHOTOS = {
    "colin_powell": 5,
    "tony_blair": 5,
    "df_person_07": 2,  # two photos only: too few to cluster until named
    "kit_harington": 3,
    "rose_leslie": 2,
}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, tiny_clip_spec) -> tuple[Path, Path, str]:
    """A folder of real face photos indexed once: (photos, data dir, clip spec)."""
    import shutil

    root = eval_faces_dir()
    photos = tmp_path_factory.mktemp("people_photos")
    for person, n in LIBRARY_PHOTOS.items():
        for p in sorted((root / person).iterdir())[:n]:
            shutil.copy(p, photos / f"{person}_{p.name}")
    shutil.copy(root / "_groups" / "fr_kit_with_rose.jpg", photos / "kit_and_rose.jpg")
    shutil.copy(root / "_nofaces" / "dlib_dog.jpg", photos / "dog.jpg")
    data = tmp_path_factory.mktemp("people_data")
    lib = Library(data, clip=tiny_clip_spec)
    lib.index(photos)
    lib.close()
    return photos, data, tiny_clip_spec


@pytest.fixture
def lib(indexed, tmp_path):
    """A fresh copy of the indexed library for one test to change."""
    import shutil

    _, data, clip = indexed
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    library = Library(copy, clip=clip)
    yield library
    library.close()


def person_photos_of(lib: Library, name: str) -> set[str]:
    person = lib.people.find(name)
    return {
        Path(lib.catalog.photo(f["photo_id"])["path"]).name
        for f in lib.catalog.faces_of_person(person["id"])
    }


def expected(person: str) -> set[str]:
    return {
        f"{person}_{p}"
        for p in sorted(p.name for p in (eval_faces_dir() / person).iterdir())[
            : LIBRARY_PHOTOS[person]
        ]
    }


@pytest.mark.slow
def test_indexing_groups_faces_into_unnamed_people_listed_by_size(lib):
    people = lib.people.everyone()
    assert all(p.name is None and p.label == f"person {p.id}" for p in people)
    assert [p.photo_count for p in people] == sorted((p.photo_count for p in people), reverse=True)
    # df_person_07 (2 close photos), rose, kit (+group), colin, tony
    assert sorted(p.photo_count for p in people) == [2, 3, 4, 5, 5]
    assert all(p.crop and Path(p.crop).is_file() for p in people)


@pytest.mark.slow
def test_naming_one_photo_names_all_that_persons_photos(lib):
    result = lib.people.name_face("colin_powell_1.jpg", "Colin")
    assert (result.name, result.photos) == ("Colin", 5)
    assert person_photos_of(lib, "colin") == expected("colin_powell")
    assert lib.people.names() == {"Colin": []}


@pytest.mark.slow
def test_naming_one_of_two_close_photos_of_a_person_names_both(lib):
    result = lib.people.name_face("df_person_07_1.jpg", "Seven")
    assert result.photos == 2
    assert person_photos_of(lib, "Seven") == expected("df_person_07")


@pytest.mark.slow
def test_a_photo_with_several_faces_asks_which_one_and_changes_nothing(lib):
    before = lib.people.everyone()
    with pytest.raises(InvalidInput, match="2 faces.*--face 1 to --face 2"):
        lib.people.name_face("kit_and_rose.jpg", "Rose")
    with pytest.raises(InvalidInput, match="no face 9"):
        lib.people.name_face("kit_and_rose.jpg", "Rose", face=9)
    assert lib.people.everyone() == before
    lib.people.name_face("kit_and_rose.jpg", "Rose", face=1)  # Rose stands on the left
    lib.people.name_face("kit_and_rose.jpg", "Kit", face=2)
    assert person_photos_of(lib, "Rose") == expected("rose_leslie") | {"kit_and_rose.jpg"}
    assert person_photos_of(lib, "Kit") == expected("kit_harington") | {"kit_and_rose.jpg"}
    assert [f.label for f in lib.people.photo_faces("kit_and_rose.jpg")] == ["Rose", "Kit"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("Al\x00ice", "control"),
        ("x" * 10_000, "too long"),
        ("person 3", "unnamed people"),
    ],
)
def test_absurd_names_are_refused_and_change_nothing(lib, name, message):
    before = lib.people.everyone()
    with pytest.raises(InvalidInput, match=message):
        lib.people.name_face("colin_powell_1.jpg", name)
    assert lib.people.everyone() == before


@pytest.mark.slow
def test_bad_references_get_clear_messages(lib):
    with pytest.raises(NotFound, match="not a photo"):
        lib.people.name_face("nowhere.jpg", "Alice")
    with pytest.raises(InvalidInput, match="No face"):
        lib.people.name_face("dog.jpg", "Rex")
    with pytest.raises(NotFound, match='Nobody called "Zed"'):
        lib.people.forget("Zed")


@pytest.mark.slow
def test_two_people_cannot_share_a_name(lib):
    lib.people.name_face("colin_powell_1.jpg", "Colin")
    tony = lib.people.everyone()[-1]  # an unnamed cluster
    with pytest.raises(InvalidInput, match="already belongs"):
        lib.people.name_person(tony.id, "colin")
    with pytest.raises(InvalidInput, match="already belongs"):
        lib.people.rename(tony.label, "Colin")
    assert lib.people.names() == {"Colin": []}


@pytest.mark.slow
def test_naming_a_face_of_a_named_cluster_moves_only_that_face(lib):
    lib.people.name_face("colin_powell_1.jpg", "Colin")
    result = lib.people.name_face("colin_powell_2.jpg", "Not Colin")
    assert (result.photos, result.joined) == (1, 0)
    assert len(person_photos_of(lib, "Colin")) == 4


@pytest.mark.slow
def test_rename_alias_merge_and_forget(lib):
    lib.people.name_face("tony_blair_1.jpg", "Tony")
    lib.people.rename("tony", "Anthony")
    lib.people.add_alias("Anthony", "Tony")
    assert lib.people.names() == {"Anthony": ["Tony"]}
    assert person_photos_of(lib, "tony") == expected("tony_blair")
    lib.people.name_face("colin_powell_1.jpg", "Colin")
    lib.people.merge("Colin", "Anthony")  # a user's mistake, but their word
    assert lib.people.names() == {"Anthony": ["Colin", "Tony"]}
    assert len(person_photos_of(lib, "Anthony")) == 10
    lib.people.forget("Anthony")
    assert lib.people.names() == {}
    # The faces go back to unnamed people, not into limbo.
    assert sorted(p.photo_count for p in lib.people.everyone())[-2:] == [5, 5]


@pytest.mark.slow
def test_that_is_not_alice_takes_the_face_off_for_good(lib):
    lib.people.name_face("colin_powell_1.jpg", "Colin")
    lib.people.unassign("colin_powell_2.jpg", "Colin")
    assert "colin_powell_2.jpg" not in person_photos_of(lib, "Colin")
    with pytest.raises(NotFound, match="not in"):
        lib.people.unassign("tony_blair_1.jpg", "Colin")
    # Re-clustering everything does not put it back.
    recluster(lib.catalog, lib.settings, lib.people.face_model())
    lib.catalog.conn.commit()
    assert "colin_powell_2.jpg" not in person_photos_of(lib, "Colin")
    assert len(person_photos_of(lib, "Colin")) == 4


@pytest.mark.slow
def test_reindexing_unchanged_photos_does_no_face_work(indexed, lib, monkeypatch):
    photos, _, _ = indexed
    calls = []
    monkeypatch.setattr(FaceStage, "analyze", lambda self, d: calls.append(d))
    report = lib.index(photos)
    assert calls == [] and report.faces_done == 0


@pytest.mark.slow
def test_who_is_recognises_a_named_person_in_an_uploaded_photo(lib):
    lib.people.name_face("colin_powell_1.jpg", "Colin")
    upload = eval_photo("colin_powell/9.jpg")  # not in the library
    faces = lib.people.who_is(upload)
    assert [f.label for f in faces] == ["Colin"]
    stranger = lib.people.who_is(eval_photo("angelina/4.jpg"))
    assert len(stranger) == 1 and stranger[0].person_id is None


class _OtherDlib(DlibEmbedder):
    """The same real dlib model under another id: a stand-in for switching face models."""

    id = "dlib_resnet_v1_other"


@pytest.mark.slow
def test_switching_face_models_asks_first_then_reembeds_keeping_names(indexed, lib, monkeypatch):
    photos, _, clip = indexed
    lib.people.name_face("colin_powell_1.jpg", "Colin")
    lib.people.unassign("colin_powell_2.jpg", "Colin")
    before = person_photos_of(lib, "Colin")
    monkeypatch.setitem(EMBEDDERS, "other", _OtherDlib)
    other = Library(lib.data_dir, clip=clip, settings=Settings(face_embedder="other"))
    with pytest.raises(CatalogError, match="dlib_resnet_v1.*--reembed"):
        other.index(photos)
    other.index(photos, reembed=True)
    models = {r[0] for r in other.catalog.conn.execute("SELECT DISTINCT model FROM faces")}
    assert models == {"dlib_resnet_v1_other"}  # never two models side by side
    assert other.catalog.model("face")["spec"] == "dlib_resnet_v1_other"
    assert person_photos_of(other, "Colin") == before  # the user's word survives
    assert "colin_powell_2.jpg" not in person_photos_of(other, "Colin")
    other.close()


def test_locked_faces_among_the_new_ones_are_not_moved_either():
    f = Faces()
    alice = f.photos("alice", 5, 100)
    said = f.face("alice", 150)  # the user said: person 9, whatever it looks like
    new = f.set([said], persons={said: 9}, locked={said})
    existing = f.set(alice, persons=dict.fromkeys(alice, 7))
    assert said not in mentioned(assign_new_faces(new, existing, S))


# --- photos that ship with the repository (demo/photos): these run on any clone ---


@pytest.mark.slow
def test_naming_marie_curie_in_one_copy_of_a_portrait_names_her_in_the_other(
    tmp_path, tiny_clip_spec
):
    import shutil

    from index.types import Query

    demo = Path(__file__).resolve().parents[1] / "demo" / "photos"
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("portrait.jpg", "portrait-orientation-6.jpg", "denali.webp"):
        shutil.copy(demo / name, folder / name)
    with Library(tmp_path / "data", clip=tiny_clip_spec) as lib:
        lib.index(folder)
        faces = lib.people.photo_faces("portrait.jpg")
        marie = max(faces, key=lambda f: f.box[3] - f.box[1])  # the largest face is hers
        result = lib.people.name_face("portrait.jpg", "Marie Curie", face=marie.index)
        assert (result.faces, result.photos) == (2, 2)  # the rotated copy came with her
        found = lib.search(Query(people_all=("Marie Curie",)))
        assert sorted(Path(h.path).name for h in found.hits) == [
            "portrait-orientation-6.jpg",
            "portrait.jpg",
        ]
