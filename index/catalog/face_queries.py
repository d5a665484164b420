"""The catalog's faces, people and aliases: every SQL statement about them."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence

import numpy as np

from index.catalog.store import (
    CatalogStore,
    blob_to_vec,
    chunks,
    placeholders,
    vec_to_blob,
)
from index.types import Face, Person


def _face_dict(row: sqlite3.Row) -> Face:
    """A face row as a `Face`: box as a tuple, landmarks decoded, vector as float32."""
    d = dict(row)
    d["box"] = (d.pop("x1"), d.pop("y1"), d.pop("x2"), d.pop("y2"))
    d["landmarks"] = json.loads(d["landmarks"]) if d.get("landmarks") else []
    d["vector"] = blob_to_vec(d["vector"])
    return d


def _stacked_vectors(blobs: list[bytes]) -> np.ndarray:
    """Stored vectors of one model as rows of one float32 array."""
    if not blobs:
        return np.zeros((0, 0), np.float32)
    joined = bytearray(b"".join(blobs))  # writable, as np.stack's copy was
    return np.frombuffer(joined, dtype=np.float32).reshape(len(blobs), -1)


def _landmark_array(stored: list[str | None]) -> np.ndarray:
    """Faces' stored landmarks as an (n, 5, 2) array; NaN for a face found without them."""
    points = np.full((len(stored), 5, 2), np.nan)
    parsed = json.loads("[" + ",".join(s or "[]" for s in stored) + "]")
    whole = [i for i, p in enumerate(parsed) if len(p) == 5]
    if whole:
        points[whole] = np.array([parsed[i] for i in whole], dtype=np.float64)
    return points


class FaceQueries(CatalogStore):
    """Faces (found, assigned, rejected), people and their aliases."""

    # --- faces and people ---

    def put_faces(self, photo_id: int, model: str, faces: Sequence[dict]) -> list[int]:
        """Replace a photo's faces (box, landmarks, score, vector; a video's: time_s) and mark
        it done for `model`."""
        self.conn.execute("DELETE FROM faces WHERE photo_id=?", (photo_id,))
        ids = []
        for k, f in enumerate(faces):
            cur = self.conn.execute(
                "INSERT INTO faces(photo_id, idx, x1, y1, x2, y2, landmarks, score, model, vector, "
                "time_s) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (photo_id, k, *map(float, f["box"]), json.dumps(f["landmarks"]), f["score"],
                 model, vec_to_blob(f["vector"]), f.get("time_s")),
            )  # fmt: skip
            ids.append(int(cur.lastrowid))
        self.conn.execute("UPDATE photos SET faces_model=? WHERE id=?", (model, photo_id))
        return ids

    def face_arrays(self, model: str, around: int | None = None) -> dict[str, np.ndarray]:
        """Every usable face of `model` as aligned arrays: ids, photos, vectors, persons, locked,
        scores, landmarks and sizes (the box's shorter side, px; with `around`, only that
        person's faces and the unassigned ones).

        `locked`: the user assigned the face or rejected it from a person (clustering leaves it).
        `landmarks`: (n, 5, 2), NaN for a face found without them.
        """
        only = "" if around is None else " AND (f.person_id=? OR f.person_id IS NULL)"
        rows = self.conn.execute(
            "SELECT f.id, f.photo_id, f.vector, f.person_id, f.source = 'user', f.score, "
            "f.landmarks, MIN(f.x2 - f.x1, f.y2 - f.y1) "
            "FROM faces f JOIN photos p ON p.id=f.photo_id "
            f"WHERE f.model=? AND p.status='ok'{only} ORDER BY f.id",
            (model,) if around is None else (model, around),
        ).fetchall()
        n = len(rows)
        ids = np.fromiter((r[0] for r in rows), np.int64, n)
        rejected = np.fromiter(
            (r[0] for r in self.conn.execute("SELECT DISTINCT face_id FROM face_rejections")),
            np.int64,
        )
        # Read in bulk (one JSON document, one buffer): this runs after every indexed batch,
        # over every face of the library.
        return {
            "ids": ids,
            "photos": np.fromiter((r[1] for r in rows), np.int64, n),
            "vectors": _stacked_vectors([r[2] for r in rows]),
            "persons": np.fromiter((-1 if r[3] is None else r[3] for r in rows), np.int64, n),
            "locked": np.fromiter((bool(r[4]) for r in rows), bool, n) | np.isin(ids, rejected),
            "scores": np.fromiter((r[5] for r in rows), np.float64, n),
            "landmarks": _landmark_array([r[6] for r in rows]),
            "sizes": np.fromiter((r[7] for r in rows), np.float64, n),
        }

    def faces_of_photo(self, photo_id: int) -> list[Face]:
        """A photo's faces in stored order (left to right), with their person's name."""
        rows = self.conn.execute(
            "SELECT f.*, pe.name AS person_name FROM faces f "
            "LEFT JOIN people pe ON pe.id=f.person_id WHERE f.photo_id=? ORDER BY f.idx",
            (photo_id,),
        ).fetchall()
        return [_face_dict(r) for r in rows]

    def faces_by_id(self, ids: Iterable[int]) -> dict[int, Face]:
        """Faces by id, with their photo's hash and their person's name."""
        out: dict[int, Face] = {}
        for chunk in chunks(list(ids), 900):
            marks = placeholders(chunk)
            for r in self.conn.execute(
                "SELECT f.*, pe.name AS person_name, ph.hash AS photo_hash FROM faces f "
                "JOIN photos ph ON ph.id=f.photo_id LEFT JOIN people pe ON pe.id=f.person_id "
                f"WHERE f.id IN ({marks})",
                chunk,
            ):
                out[r["id"]] = _face_dict(r)
        return out

    def faces_of_person(self, person_id: int) -> list[Face]:
        """Every face of a person, with its photo id and source."""
        rows = self.conn.execute(
            "SELECT f.*, NULL AS person_name FROM faces f WHERE f.person_id=? ORDER BY f.id",
            (person_id,),
        ).fetchall()
        return [_face_dict(r) for r in rows]

    def assign_faces(
        self, assignments: Iterable[tuple[int, int | None, float | None]], source: str
    ) -> None:
        """Set (face id, person id or None, distance) for many faces, marking who decided."""
        self.conn.executemany(
            "UPDATE faces SET person_id=?, distance=?, source=? WHERE id=?",
            [(p, d, source, f) for f, p, d in assignments],
        )

    def reject_face(self, face_id: int, person_id: int) -> None:
        """The user said this face is not that person: unassign it and remember the refusal."""
        self.conn.execute(
            "UPDATE faces SET person_id=NULL, distance=NULL, source='user' WHERE id=?", (face_id,)
        )
        self.record_rejection(face_id, person_id)

    def record_rejection(self, face_id: int, person_id: int) -> None:
        """Remember that the user said this face is not that person (it stays where it is)."""
        self.conn.execute(
            "INSERT OR IGNORE INTO face_rejections(face_id, person_id) VALUES(?, ?)",
            (face_id, person_id),
        )

    def rejections(self, face_ids: Iterable[int]) -> dict[int, list[int]]:
        """Person ids each face was rejected from, by face id."""
        out: dict[int, list[int]] = {}
        for chunk in chunks(list(face_ids), 900):
            marks = placeholders(chunk)
            sql = f"SELECT face_id, person_id FROM face_rejections WHERE face_id IN ({marks})"
            for r in self.conn.execute(sql, chunk):
                out.setdefault(r[0], []).append(r[1])
        return out

    def clear_rejection(self, face_id: int, person_id: int) -> None:
        """Forget a refusal (the user now says the face is that person after all)."""
        self.conn.execute(
            "DELETE FROM face_rejections WHERE face_id=? AND person_id=?", (face_id, person_id)
        )

    def add_person(self, name: str | None = None) -> int:
        """A new person, named or not; returns its id."""
        cur = self.conn.execute(
            "INSERT INTO people(name, created_at) VALUES(?, ?)", (name, time.time())
        )
        return int(cur.lastrowid)

    def person(self, person_id: int) -> Person | None:
        """One person: id, name (None when unnamed)."""
        row = self.conn.execute("SELECT id, name FROM people WHERE id=?", (person_id,)).fetchone()
        return Person(id=row["id"], name=row["name"]) if row else None

    def person_by_name(self, name: str) -> Person | None:
        """The person with this name or alias, in any case."""
        row = self.conn.execute(
            "SELECT id, name FROM people WHERE name=? UNION "
            "SELECT p.id, p.name FROM aliases a JOIN people p ON p.id=a.person_id WHERE a.alias=?",
            (name, name),
        ).fetchone()
        return Person(id=row["id"], name=row["name"]) if row else None

    def set_person_name(self, person_id: int, name: str | None) -> None:
        """Name, rename or un-name a person."""
        self.conn.execute("UPDATE people SET name=? WHERE id=?", (name, person_id))

    def delete_person(self, person_id: int) -> None:
        """Remove a person; its faces become unassigned and free for the clustering again."""
        self.conn.execute(
            "UPDATE faces SET person_id=NULL, distance=NULL, source='auto' WHERE person_id=?",
            (person_id,),
        )
        self.conn.execute("DELETE FROM people WHERE id=?", (person_id,))

    def delete_empty_people(self) -> int:
        """Drop unnamed people left without faces; returns how many went."""
        cur = self.conn.execute(
            "DELETE FROM people WHERE name IS NULL AND id NOT IN "
            "(SELECT DISTINCT person_id FROM faces WHERE person_id IS NOT NULL)"
        )
        return cur.rowcount

    def add_alias(self, person_id: int, alias: str) -> None:
        """Another name for a person."""
        self.conn.execute(
            "INSERT INTO aliases(alias, person_id) VALUES(?, ?) "
            "ON CONFLICT(alias) DO UPDATE SET person_id=excluded.person_id",
            (alias, person_id),
        )

    def remove_alias(self, person_id: int, alias: str) -> None:
        """Take an alias off a person (case-insensitive)."""
        self.conn.execute(
            "DELETE FROM aliases WHERE person_id=? AND lower(alias)=lower(?)", (person_id, alias)
        )

    def move_aliases(self, from_id: int, to_id: int) -> None:
        """Give one person's aliases to another (merging people)."""
        self.conn.execute("UPDATE aliases SET person_id=? WHERE person_id=?", (to_id, from_id))

    def aliases(self) -> dict[int, list[str]]:
        """Aliases of every person that has some, by person id."""
        out: dict[int, list[str]] = {}
        for r in self.conn.execute("SELECT person_id, alias FROM aliases ORDER BY alias"):
            out.setdefault(r[0], []).append(r[1])
        return out

    def named_people(self) -> list[dict]:
        """Every named person: id, name, created_at, and `changes`, a counter SQLite's
        triggers bump at each change to what people.json says of them (schema 11)."""
        rows = self.conn.execute(
            "SELECT id, name, created_at, changes FROM people WHERE name IS NOT NULL"
        ).fetchall()
        return [dict(r) for r in rows]

    def named_faces(self, person_ids: Iterable[int] | None = None) -> list[dict]:
        """Every face of a named person (of `person_ids` when given) as a fingerprint:
        person_id, name, photo_hash, box, source (for people.json)."""
        rows = self._of_people(
            "SELECT pe.id, pe.name, ph.hash, f.x1, f.y1, f.x2, f.y2, f.source FROM faces f "
            "JOIN people pe ON pe.id=f.person_id JOIN photos ph ON ph.id=f.photo_id "
            "WHERE pe.name IS NOT NULL AND ph.hash IS NOT NULL{only} "
            "ORDER BY pe.name, ph.hash, f.idx",
            person_ids,
        )
        return [
            {"person_id": r[0], "name": r[1], "photo_hash": r[2], "box": tuple(r[3:7]),
             "source": r[7]}
            for r in rows
        ]  # fmt: skip

    def named_rejections(self, person_ids: Iterable[int] | None = None) -> list[dict]:
        """Every "not this person" the user said about a face (about `person_ids` when
        given): person_id, name, photo_hash, box."""
        rows = self._of_people(
            "SELECT pe.id, pe.name, ph.hash, f.x1, f.y1, f.x2, f.y2 FROM face_rejections r "
            "JOIN people pe ON pe.id=r.person_id JOIN faces f ON f.id=r.face_id "
            "JOIN photos ph ON ph.id=f.photo_id WHERE pe.name IS NOT NULL{only} "
            "ORDER BY pe.name, ph.hash, f.idx",
            person_ids,
        )
        return [
            {"person_id": r[0], "name": r[1], "photo_hash": r[2], "box": tuple(r[3:7])}
            for r in rows
        ]

    def _of_people(self, sql: str, person_ids: Iterable[int] | None) -> list[tuple]:
        """The rows of `sql` (its `{only}` filled with a filter on people `pe.id`), for every
        person (None) or only `person_ids`, in runs SQLite's parameter limit allows."""
        if person_ids is None:
            return self._tuples(sql.format(only=""), ())
        rows: list[tuple] = []
        for chunk in chunks(sorted(set(person_ids)), 900):
            rows += self._tuples(sql.format(only=f" AND pe.id IN ({placeholders(chunk)})"), chunk)
        return rows

    def faces_of_hashes(self, hashes: Iterable[str]) -> dict[str, list[dict]]:
        """Faces of the photos with these content hashes, by hash: face_id, box, person_id,
        source."""
        out: dict[str, list[dict]] = {}
        for chunk in chunks(sorted(set(hashes)), 900):
            rows = self.conn.execute(
                "SELECT ph.hash, f.id, f.x1, f.y1, f.x2, f.y2, f.person_id, f.source FROM faces f "
                f"JOIN photos ph ON ph.id=f.photo_id WHERE ph.status='ok' AND ph.hash IN "
                f"({placeholders(chunk)})",
                chunk,
            )
            for r in rows:
                out.setdefault(r[0], []).append(
                    {"face_id": r[1], "box": tuple(r[2:6]), "person_id": r[6], "source": r[7]}
                )
        return out

    def people_summary(self) -> list[dict]:
        """Every person with faces or a name: id, name, face and photo counts, best face id."""
        rows = self.conn.execute(
            "SELECT pe.id, pe.name, count(f.id) AS faces, count(DISTINCT f.photo_id) AS photos, "
            "(SELECT b.id FROM faces b WHERE b.person_id=pe.id "
            " ORDER BY (b.source='user') DESC, (b.x2-b.x1)*b.score DESC LIMIT 1) AS cover "
            "FROM people pe LEFT JOIN faces f ON f.person_id=pe.id "
            "GROUP BY pe.id HAVING pe.name IS NOT NULL OR count(f.id) > 0"
        ).fetchall()
        return [dict(r) for r in rows]
