"""The people of one library: clusters of its faces as the user sees, names and fixes them.

Which faces are one person is decided by `index.clustering` (arrays in, a ClusterResult
out). This module feeds it from the catalog and writes its decisions back: the indexer's
face stage (`index.faces.FaceIndexing`) clusters each new batch through `recluster`, and
`People` (which `Library` holds and delegates to) lists, names, renames, merges and corrects
people. A face the user assigned or rejected is locked, so clustering never moves it again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index import layout, people_file, people_snapshot, photo_refs
from index.catalog import Catalog
from index.clustering import (
    NO_PERSON,
    ClusterResult,
    FaceSet,
    absorb,
    assign_new_faces,
    cluster_all,
    neighbours,
    weak_faces,
)
from index.errors import Conflict, InvalidInput, NotFound
from index.faces import DetectedFace, face_model_id
from index.person_names import (
    clean_name,
    labelled_person,
    person_label,
    refuse_lookalike,
    shorten,
)
from index.settings import Settings
from index.types import Face, FaceInfo, NamingResult, Person, PersonInfo, Photo

if TYPE_CHECKING:
    from PIL import Image

# Finds the faces of an upright photo (the face stage's analyzer: one copy of the models).
AnalyseFaces = Callable[["Image.Image"], list[DetectedFace]]


def catalog_faces(
    catalog: Any, model: str, settings: Settings, around: int | None = None
) -> FaceSet:
    """Every face of `model` in the catalog (with `around`: only that person's and the
    unassigned ones), as a FaceSet, the weak ones marked."""
    a = catalog.face_arrays(model, around)
    weak = weak_faces(a["scores"], a["landmarks"], settings, a["sizes"])
    return FaceSet(a["ids"], a["photos"], a["vectors"], a["persons"], a["locked"], weak)


def recluster(
    catalog: Any,
    settings: Settings,
    model: str,
    photo_ids: Iterable[int] | None = None,
    face_ids: Iterable[int] | None = None,
) -> ClusterResult:
    """Cluster the faces of `photo_ids` (or just `face_ids`) into people and write the result.

    With neither, every unlocked face is re-clustered from scratch.
    """
    faces = catalog_faces(catalog, model, settings)
    if face_ids is not None:
        new = np.isin(faces.ids, np.fromiter(face_ids, np.int64)) & ~faces.locked
        result = assign_new_faces(faces.subset(new), faces.subset(~new), settings)
    elif photo_ids is None:
        result = cluster_all(faces, settings)
        # A full re-cluster replaces every automatic assignment.
        catalog.assign_faces(
            [(int(i), None, None) for i in faces.ids[~faces.locked]], source="auto"
        )
    else:
        new = np.isin(faces.photos, np.fromiter(photo_ids, np.int64))
        result = assign_new_faces(faces.subset(new), faces.subset(~new), settings)
    apply_clustering(catalog, result)
    return result


def apply_clustering(catalog: Any, result: ClusterResult) -> None:
    """Write a ClusterResult: joined faces, new unnamed people, faces left unassigned."""
    d = result.distances
    catalog.assign_faces([(f, p, d.get(f)) for f, p in result.joined.items()], source="auto")
    for group in result.new_people:
        person = catalog.add_person(None)
        catalog.assign_faces([(f, person, d.get(f)) for f in group], source="auto")
    catalog.assign_faces([(f, None, None) for f in result.unassigned], source="auto")
    catalog.delete_empty_people()


class People:
    """The people of one library: list, name, rename, merge, alias, forget, unassign, who is this.

    Built from plain parts: the catalog, the settings, the library's writer lock, and
    `analyse`, which finds the faces of an uploaded photo (its models load on first use).
    """

    def __init__(
        self,
        catalog: Catalog,
        settings: Settings,
        lock: AbstractContextManager,
        analyse: AnalyseFaces,
    ):
        self.catalog = catalog
        self.settings = settings
        self._lock = lock
        self._analyse = analyse

    # --- reading ---

    def face_model_mismatch(self) -> str | None:
        """A message when the configured face model is not the one the faces were made with."""
        recorded = self.catalog.model("face")
        wanted = face_model_id(self.settings)
        if recorded is None or recorded["spec"] == wanted:
            return None
        return (
            f"This library's faces were made with the face model {recorded['spec']}, not "
            f"{wanted} (set by PIR_FACE_EMBEDDER={self.settings.face_embedder}). Face vectors "
            "of two models are never mixed: run `python app.py index FOLDER --reembed` to "
            "find every face again with the new model (names you gave are kept), or unset "
            "PIR_FACE_EMBEDDER to keep the old one."
        )

    def face_model(self) -> str:
        """The face model of this library's faces (recorded), else the configured one."""
        recorded = self.catalog.model("face")
        return recorded["spec"] if recorded else face_model_id(self.settings)

    def everyone(self) -> list[PersonInfo]:
        """Named people first (by name), then unnamed clusters, largest first."""
        aliases = self.catalog.aliases()
        summary = self.catalog.people_summary()
        covers = self.catalog.faces_by_id(r["cover"] for r in summary if r["cover"])
        out = []
        for r in summary:
            cover = covers.get(r["cover"])
            out.append(
                PersonInfo(
                    id=r["id"],
                    name=r["name"],
                    label=r["name"] or person_label(r["id"]),
                    photo_count=r["photos"],
                    face_count=r["faces"],
                    crop=self._crop(cover["photo_hash"], cover["idx"]) if cover else None,
                    aliases=tuple(aliases.get(r["id"], ())),
                )
            )
        out.sort(key=lambda p: (p.name is None, (p.name or "").lower(), -p.face_count, p.id))
        return out

    def names(self) -> dict[str, list[str]]:
        """Named people and their aliases (what the query parser recognises)."""
        aliases = self.catalog.aliases()
        return {p.name: list(aliases.get(p.id, ())) for p in self.everyone() if p.name is not None}

    def photo_faces(self, ref: str | Path | int) -> list[FaceInfo]:
        """The faces of one library photo, left to right."""
        photo = self._photo(ref)
        return [
            self._face_info(f, photo.get("hash")) for f in self.catalog.faces_of_photo(photo["id"])
        ]

    def who_is(self, image: Any) -> list[FaceInfo]:
        """Faces of an uploaded photo, each matched to the nearest known person within distance."""
        from PIL import ImageOps

        faces = self._analyse(ImageOps.exif_transpose(image))
        if not faces:
            return []
        known = catalog_faces(self.catalog, self.face_model(), self.settings)
        known = known.subset(known.persons != NO_PERSON)
        vectors = np.stack([f.vector for f in faces])
        near = neighbours(vectors, known.vectors, self.settings.face_max_distance)
        labels = {p.id: p.label for p in self.everyone()}
        out = []
        for k, (face, (rows, dist)) in enumerate(zip(faces, near, strict=True)):
            person = int(known.persons[rows[0]]) if len(rows) else None
            out.append(
                FaceInfo(
                    face_id=None,
                    index=k + 1,
                    box=face.box,
                    person_id=person,
                    label=labels.get(person),
                    distance=float(dist[0]) if len(rows) else None,
                    crop=None,
                )
            )
        return out

    # --- naming and fixing ---

    def name_face(self, ref: str | Path | int, name: str, face: int | None = None) -> NamingResult:
        """Name the person in a photo (face = 1-based, left to right) and its whole cluster."""
        name = clean_name(name)
        self._refuse_lookalike(name)
        photo = self._photo(ref)
        faces = self.catalog.faces_of_photo(photo["id"])
        if not faces:
            raise InvalidInput(f"No face was found in {photo['path']}, so there is nobody to name.")
        if face is None and len(faces) > 1:
            listing = "; ".join(self._describe(f, k + 1) for k, f in enumerate(faces))
            raise InvalidInput(
                f"{photo['path']} has {len(faces)} faces ({listing}). Say which one, counted from "
                f"the left: --face 1 to --face {len(faces)}."
            )
        k = 1 if face is None else face
        if not 1 <= k <= len(faces):
            raise InvalidInput(
                f"{photo['path']} has {len(faces)} face{'s' if len(faces) > 1 else ''}; "
                f"there is no face {k}."
            )
        target = faces[k - 1]
        with self._write():
            person = self.catalog.person_by_name(name)
            current = self.catalog.person(target["person_id"]) if target["person_id"] else None
            if person is None and current is not None and current["name"] is None:
                # Naming a face names its whole (unnamed) cluster.
                person_id = current["id"]
                self.catalog.set_person_name(person_id, name)
            elif person is None:
                person_id = self.catalog.add_person(name)
            else:
                person_id = person["id"]
                if current is not None and current["name"] is None and current["id"] != person_id:
                    self._move_all(current["id"], person_id)  # the cluster is that person too
            self._assign_by_user(target, person_id)
            return self._named(person_id)

    def check_name(self, name: str) -> str:
        """A name as it would be stored; InvalidInput with the reason when it cannot be one."""
        return clean_name(name)

    def name_person(
        self, person_id: int, name: str, check: bool = False, expected_name: str | None = None
    ) -> NamingResult:
        """Give a person (e.g. an unnamed cluster, "person 7") a name, or a new one.

        With `check`, it is done only if the person is still called `expected_name` (None:
        unnamed); otherwise Conflict says what it is called now (someone named it meanwhile).
        """
        name = clean_name(name)
        with self._write():
            person = self.find(person_id)
            if check and person["name"] != expected_name:
                raise Conflict(
                    f"{person_label(person_id)} was named {person['name']} meanwhile.",
                    person["name"],
                )
            self._check_free(name, person["id"])
            self.catalog.set_person_name(person["id"], name)
            return self._named(person["id"])

    def rename(self, old: str | int, new: str) -> NamingResult:
        """Rename a person (by name, alias or "person N")."""
        new = clean_name(new)
        with self._write():
            person = self.find(old)
            self._check_free(new, person["id"])
            self.catalog.set_person_name(person["id"], new)
            return self._named(person["id"])

    def merge(self, a: str | int, b: str | int) -> NamingResult:
        """Merge person `a` into person `b`: a's faces, name (as an alias) and aliases go to b."""
        with self._write():
            pa, pb = self.find(a), self.find(b)
            if pa["id"] == pb["id"]:
                raise InvalidInput(f"{a} and {b} are already the same person.")
            self._move_all(pa["id"], pb["id"])
            self.catalog.move_aliases(pa["id"], pb["id"])
            old_name = pa["name"]
            self.catalog.delete_person(pa["id"])
            if old_name:
                self.catalog.add_alias(pb["id"], old_name)
            return self._named(pb["id"], absorb_near=False)

    def add_alias(self, name: str, alias: str) -> None:
        """Another name for a person ("Bob" = "Robert")."""
        alias = clean_name(alias)
        with self._write():
            person = self.find(name)
            self._check_free(alias, person["id"])
            self.catalog.add_alias(person["id"], alias)

    def remove_alias(self, name: str, alias: str) -> None:
        """Take back an alias ("undo" of `add_alias`)."""
        with self._write():
            self.catalog.remove_alias(self.find(name)["id"], alias)

    def unname(self, person_id: int) -> None:
        """A named group of faces made unnamed again, its faces kept together ("undo" of
        naming it); NotFound when the group is gone."""
        with self._write():
            self.catalog.set_person_name(self.find(person_id)["id"], None)

    def forget(self, name: str | int) -> None:
        """Forget a person: the name, aliases and every assignment go; the faces re-cluster."""
        with self._write():
            person = self.find(name)
            freed = [f["id"] for f in self.catalog.faces_of_person(person["id"])]
            self.catalog.delete_person(person["id"])
            if freed:
                recluster(self.catalog, self.settings, self.face_model(), face_ids=freed)

    def unassign(self, ref: str | Path | int, name: str) -> None:
        """ "That is not Alice in this photo": take the face off the person, for good."""
        photo = self._photo(ref)
        with self._write():
            person = self.find(name)
            faces = [
                f
                for f in self.catalog.faces_of_photo(photo["id"])
                if f["person_id"] == person["id"]
            ]
            if not faces:
                raise NotFound(f"{self._label(person)} is not in {photo['path']}.")
            for f in faces:
                self.catalog.reject_face(f["id"], person["id"])
            self.catalog.delete_empty_people()

    # --- people.json (index/people_file.py, people_snapshot.py, people_restore.py) ---

    def restore_names(self) -> people_file.RestoreReport | None:
        """Names back from people.json when this catalog is new to it (lost and rebuilt) or
        behind it (gone back to an older state), what can be read of a damaged file (kept
        aside first), and faces still waiting for their photo; None if nothing to do."""
        path = people_file.path_in(self.catalog.data_dir)
        with self._lock:
            state = people_file.read_state(path)
            if state.problem:
                return self._salvage(path, state)
            if state.doc is None:
                return None
            if state.catalog_id != people_file.catalog_id(self.catalog) and state.doc["people"]:
                return self._restore(state.doc)
            if state.newer_than(self.catalog):
                return self._catch_up(path, state)
            waiting = people_file.pending_of(path)
            if waiting is not None:
                report = self._restore(waiting, count=False)
                return report if report.faces or report.refusals else None
        return None

    def import_file(self, path: Path | str) -> people_file.RestoreReport:
        """Give names back to the faces a people file fingerprints (`people --import`)."""
        return self._restore(people_file.load(Path(path)))

    def export_file(self, path: Path | str) -> None:
        """Write the people, their aliases and face fingerprints to a file (`people --export`)."""
        people_snapshot.export(self.catalog, Path(path))

    def save_file(self) -> str | None:
        """Bring people.json up to date (after indexing: the clustering moves faces too);
        what the user should hear about the file found there, if anything."""
        with self._lock:
            return people_snapshot.save_after_change(self.catalog)

    def _restore(
        self, doc: dict, count: bool = True, at_least: int = 0
    ) -> people_file.RestoreReport:
        with self._lock:
            same = doc.get("catalog_id") == people_file.catalog_id(self.catalog)
            with self.catalog.transaction():
                report = people_file.restore(
                    self.catalog,
                    doc,
                    self.settings.face_same_box,
                    clean=clean_name,
                    same_catalog=same,
                )
                if count or report.faces or report.refusals:
                    people_file.count_change(self.catalog, at_least)
            people_snapshot.save_after_change(
                self.catalog, pending=report.pending, pending_not=report.pending_not
            )
        return report

    def _salvage(self, path: Path, state: people_file.FileState) -> people_file.RestoreReport:
        """A damaged people.json: kept aside, then the people still readable in it given
        back when the catalog does not have them (new to the file, or behind it)."""
        copy = people_file.keep_aside(path)
        path.unlink()  # kept aside whole: what is written next comes from the catalog
        mine = state.catalog_id == people_file.catalog_id(self.catalog)
        behind = mine and state.revision > people_file.revision(self.catalog)
        give_back = bool(state.salvaged) and (not mine or behind)
        if give_back:
            doc = {"people": state.salvaged, "catalog_id": state.catalog_id}
            report = self._restore(doc, at_least=state.revision if mine else 0)
        else:
            report = people_file.RestoreReport()
            people_snapshot.save_after_change(self.catalog)
        report.notes.append(people_file.damage_note(path, state, copy, give_back))
        return report

    def _catch_up(self, path: Path, state: people_file.FileState) -> people_file.RestoreReport:
        """people.json holds later changes than its own catalog, which went back to an older
        state (its write-ahead log lost or damaged): take them back instead of losing them."""
        behind = people_file.revision(self.catalog)
        report = self._restore(state.doc, at_least=state.revision)
        report.notes.append(
            f"The catalog {self.catalog.path} had gone back to an older state than {path} "
            f"(changes to people: {behind} in the catalog, {state.revision} in the file); the "
            "names were taken back from people.json, which was not overwritten."
        )
        return report

    # --- helpers ---

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One transaction, under the library's writer lock; then the safe copy of the
        people beside the catalog (people.json) is brought up to date. A people.json ahead
        of the catalog (the catalog went back to an older state) is taken back first."""
        with self._lock:
            file_id, file_revision = people_file.header(people_file.path_in(self.catalog.data_dir))
            mine = file_id == people_file.catalog_id(self.catalog)
            if mine and file_revision > people_file.revision(self.catalog):
                self.restore_names()
            with self.catalog.transaction():
                yield
                people_file.count_change(self.catalog)
            people_snapshot.save_after_change(self.catalog)

    def _photo(self, ref: str | Path | int) -> Photo:
        return photo_refs.photo_by_ref(self.catalog, ref)

    def find(self, ref: str | int) -> Person:
        """A person by id, name, alias or "person N" label; NotFound says who is known."""
        text = " ".join(str(ref).split())
        label_id = ref if isinstance(ref, int) else labelled_person(text)
        person = (
            self.catalog.person(label_id)
            if label_id is not None
            else self.catalog.person_by_name(text)
        )
        if person is None:
            known = [p.label for p in self.everyone()][:10]
            hint = f" Known: {', '.join(known)}." if known else " Nobody has been named yet."
            raise NotFound(f'Nobody called "{shorten(text)}" is in this library.{hint}')
        return person

    def _label(self, person: Person) -> str:
        return person["name"] or person_label(person["id"])

    def _refuse_lookalike(self, name: str, person_id: int | None = None) -> None:
        """Refuse a name that imitates another person's name in another script."""
        names = [p["name"] for p in self.catalog.named_people() if p["id"] != person_id]
        names += [a for i, some in self.catalog.aliases().items() if i != person_id for a in some]
        refuse_lookalike(name, names)

    def _check_free(self, name: str, person_id: int) -> None:
        self._refuse_lookalike(name, person_id)
        other = self.catalog.person_by_name(name)
        if other is not None and other["id"] != person_id:
            raise InvalidInput(
                f'"{name}" already belongs to another person ({self._label(other)}). '
                "Choose another name, or merge the two people."
            )

    def _move_all(self, from_id: int, to_id: int) -> None:
        """Every face of one person to another; a face whose photo `to_id` is in already stays out."""
        taken = {f["photo_id"] for f in self.catalog.faces_of_person(to_id)}
        moves = []
        for f in self.catalog.faces_of_person(from_id):
            if f["photo_id"] in taken:
                self.catalog.assign_faces([(f["id"], None, None)], source="auto")
            else:
                taken.add(f["photo_id"])
                moves.append((f["id"], to_id, f["distance"], f["source"]))
        for source in ("user", "auto"):
            self.catalog.assign_faces(
                [(i, p, d) for i, p, d, s in moves if s == source], source=source
            )

    def _assign_by_user(self, face: Face, person_id: int) -> None:
        """The user's word: this face is that person (and no other face of its photo is)."""
        for other in self.catalog.faces_of_photo(face["photo_id"]):
            if other["id"] != face["id"] and other["person_id"] == person_id:
                if other["source"] == "user":
                    raise InvalidInput(
                        f"You already said face {other['idx'] + 1} of this photo is "
                        f"{self._label(self.catalog.person(person_id))}; one person appears "
                        "once per photo. Unassign that face first."
                    )
                self.catalog.assign_faces([(other["id"], None, None)], source="auto")
        self.catalog.clear_rejection(face["id"], person_id)
        self.catalog.assign_faces([(face["id"], person_id, 0.0)], source="user")
        self.catalog.delete_empty_people()

    # --- how alike two groups of faces are (edits that contradict the faces ask first) ---

    def gap(self, a: str | int, b: str | int) -> float | None:
        """Distance between the closest faces of two people (None when either has none)."""
        faces = catalog_faces(self.catalog, self.face_model(), self.settings)
        pa, pb = self.find(a)["id"], self.find(b)["id"]
        return _closest(faces.vectors[faces.persons == pa], faces.vectors[faces.persons == pb])

    def face_gap(self, ref: str | Path | int, name: str, face: int | None = None) -> float | None:
        """How far a photo's face (and its unnamed group) is from the faces of person `name`.

        None when nobody has that name yet, or the face is already theirs.
        """
        person = self.catalog.person_by_name(clean_name(name))
        photo_faces = self.catalog.faces_of_photo(self._photo(ref)["id"])
        k = 1 if face is None else face
        if person is None or not 1 <= k <= len(photo_faces):
            return None
        target = photo_faces[k - 1]
        if target["person_id"] == person["id"]:
            return None
        faces = catalog_faces(self.catalog, self.face_model(), self.settings)
        group = faces.ids == target["id"]
        current = self.catalog.person(target["person_id"]) if target["person_id"] else None
        if current is not None and current["name"] is None:
            group = faces.persons == current["id"]  # naming the face names its whole group
        return _closest(faces.vectors[group], faces.vectors[faces.persons == person["id"]])

    def _named(self, person_id: int, absorb_near: bool = True) -> NamingResult:
        """After naming: unassigned faces near the person join it; then say where it stands."""
        joined = 0
        if absorb_near:
            faces = catalog_faces(self.catalog, self.face_model(), self.settings, person_id)
            mine = faces.subset(faces.persons == person_id)
            free = faces.subset((faces.persons == NO_PERSON) & ~faces.locked)
            near = absorb(mine, free, self.settings)
            self.catalog.assign_faces([(f, person_id, d) for f, d in near.items()], source="auto")
            joined = len(near)
        person = self.catalog.person(person_id)
        own = self.catalog.faces_of_person(person_id)
        return NamingResult(
            person_id=person_id,
            name=person["name"] or person_label(person_id),
            faces=len(own),
            photos=len({f["photo_id"] for f in own}),
            joined=joined,
        )

    def _describe(self, face: Face, k: int) -> str:
        who = face["person_name"] or (
            person_label(face["person_id"]) if face["person_id"] else "unknown"
        )
        return f"face {k}: {who}"

    def _face_info(self, face: Face, photo_hash: str | None) -> FaceInfo:
        label = face["person_name"] or (
            person_label(face["person_id"]) if face["person_id"] else None
        )
        return FaceInfo(
            face_id=face["id"],
            index=face["idx"] + 1,
            box=tuple(face["box"]),
            person_id=face["person_id"],
            label=label,
            distance=face["distance"],
            crop=self._crop(photo_hash, face["idx"]),
        )

    def _crop(self, photo_hash: str | None, idx: int) -> str | None:
        """The cached crop file of face `idx` of a photo, if there is one."""
        if not photo_hash:
            return None
        path = layout.face_crop_path(self.catalog.data_dir, photo_hash, idx)
        return str(path) if path.exists() else None


def _closest(a: np.ndarray, b: np.ndarray) -> float | None:
    """The smallest L2 distance between a vector of `a` and one of `b`."""
    if not len(a) or not len(b):
        return None
    a, b = a.astype(np.float32), b.astype(np.float32)
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return float(np.sqrt(max(float(squared.min()), 0.0)))
