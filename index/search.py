"""Search: a `Query` in, explained `Hit`s out.

1. People, dates and places narrow the library to candidate photos (SQL in the catalog).
   "Only Alice" means no face of anybody else the library knows (a named person or an
   unnamed cluster) and no unknown face at least `only_stranger_size` as wide as hers:
   passers-by in the background are allowed, a second subject is not.
2. The descriptive remainder becomes a CLIP text vector (an average over the prompt
   templates in prompts/clip_templates.txt, cached) and ranks the candidates through the
   FAISS store, restricted to them; with no filter it ranks the whole library.
3. With no description, candidates are ranked by how sure the face matches are, then date.
4. `tail_cut` decides how many of the ranked photos are matches at all, from z-scores of the
   query against its own similarity to a sample of the library, so the cut is the same
   whatever a model's absolute score scale; a query that matches nothing returns nothing.
5. Every hit says why: the faces that matched (with distances), the description's
   similarity, the date and place that passed the filters (worded by `index.explain`).

A `Searcher` is built from plain parts (the catalog, a way to get the current image index,
a text encoder, the settings) and holds no reference to the `Library`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index import capture_dates, photo_refs, videos
from index.catalog import Catalog
from index.errors import ModelUnavailable
from index.explain import (
    date_note,
    describe,
    hit_reasons,
    names_and,
    no_vectors,
    note,
    phrase,
    short,
)
from index.folding import phrase_query
from index.people_index import PeopleIndex
from index.person_names import labelled_person, person_label
from index.ranking import (
    certain_first,
    face_confidence,
    photo_confidence,
    rank_by_confidence,
    tail_cut,
)
from index.settings import PROMPTS_DIR, Settings
from index.types import Face, Hit, PersonMatch, Query, SearchResult
from index.vectors import VectorStore, normalise

if TYPE_CHECKING:
    from index.models import ClipModel

TEMPLATES_FILE = PROMPTS_DIR / "clip_templates.txt"


def load_templates(path: Path = TEMPLATES_FILE) -> tuple[str, ...]:
    """CLIP prompt templates, one per line with a `{}`; comments and blank lines skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    templates = tuple(ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#"))
    return tuple(t for t in templates if "{}" in t) or ("{}",)


# --- CLIP text vectors ---


class TextVectors:
    """CLIP vectors of descriptions: the normalised mean over prompt templates, LRU-cached."""

    def __init__(self, clip: ClipModel, templates: tuple[str, ...], cache_size: int):
        self.clip = clip
        self.templates = templates
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, text: str) -> np.ndarray:
        """The vector of one description (raises ModelUnavailable when CLIP cannot load)."""
        key = " ".join(text.split()).lower()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        vecs = self.clip.encode_texts([t.format(key) for t in self.templates])
        vec = normalise(vecs.mean(axis=0, keepdims=True))[0]
        with self._lock:
            self._cache[key] = vec
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return vec


# --- the search ---


@dataclass(frozen=True)
class _People:
    """Names of a query resolved to person ids, with what could not be resolved."""

    all_of: tuple[int, ...] = ()
    any_of: tuple[int, ...] = ()
    none_of: tuple[int, ...] = ()
    names: dict[int, str] = field(default_factory=dict)  # id -> name as shown
    notes: tuple[str, ...] = ()
    stop: bool = False  # a required person is unknown or the filters contradict

    @property
    def wanted(self) -> tuple[int, ...]:
        """Every person asked for (all_of, then any_of), each once."""
        return tuple(dict.fromkeys(self.all_of + self.any_of))


@dataclass(frozen=True)
class Like:
    """A query vector taken from a photo ("photos like this"), and the photo not to return."""

    vector: np.ndarray
    name: str
    exclude: int | None = None


class Searcher:
    """Runs queries against one library's catalog and image index (see the module docstring)."""

    def __init__(
        self,
        catalog: Catalog,
        image_index: Callable[[], VectorStore],
        encode_text: Callable[[str], np.ndarray],
        settings: Settings,
        model: str,
        words_pending: Callable[[], int | None] = lambda: 0,
        people: PeopleIndex | None = None,
    ):
        """`image_index()` gives the current FAISS store; `encode_text` turns a description
        into a vector and raises ModelUnavailable when it cannot (tests give fixed vectors);
        `model` is the CLIP spec whose vectors are searched (named when there are none);
        `words_pending()` says how many photos' words are not read yet (None: OCR is off);
        `people` answers people filters from memory (default: one on `catalog`)."""
        self.catalog = catalog
        self.image_index = image_index
        self.encode_text = encode_text
        self.settings = settings
        self.model = model
        self.words_pending = words_pending
        self.people = people if people is not None else PeopleIndex(catalog)

    # --- public ---

    def search(self, query: Query, like: Like | None = None) -> SearchResult:
        """Photos matching a parsed query (and looking like `like`), best first, with reasons."""
        return self._run(query, like)

    # --- steps ---

    def _run(self, query: Query, like: Like | None) -> SearchResult:
        limit = self._limit(query.limit)
        text = query.text.strip() if _has_words(query.text) else ""
        filtered = (
            bool(
                query.has_people
                or query.unknown_names
                or query.dates
                or query.places
                or query.words
            )
            or query.has_media
        )
        if not (text or filtered or like):
            return SearchResult(query, notes=(note("empty"),))

        narrowed = self._narrow(query)
        if isinstance(narrowed, SearchResult):
            return narrowed
        people, places, written, notes = narrowed
        filters = (
            bool(people.all_of or people.any_of or people.none_of or query.dates or places)
            or query.has_media
        )
        vector, vector_notes = self._query_vector(
            text, like, has_filters=filters or written is not None
        )
        notes += vector_notes
        candidates = written  # best match first
        ranked = None  # one person, no text, no words: every photo already ranked, from memory
        if filters:
            plain = not (query.only or query.dates or places or people.any_of or people.none_of)
            if plain and len(people.all_of) == 1 and vector is None and written is None:
                # One person, nothing else: every photo already ranked, from memory.
                ranked = self._one_person(people.all_of[0])
                found = ranked[0]
            else:
                found = self._filter(query, people, places, newest_first=vector is None)
            if query.has_media:  # videos only, photos only, videos of some length
                kept = self.catalog.media_ids(query.media, query.min_seconds, query.max_seconds)
                found = found[np.isin(found, kept)]
            # Photos with the words keep the order the words rank them.
            candidates = found if written is None else written[np.isin(written, found)]
            if len(candidates) == 0:
                what = _describe(query, people)
                return SearchResult(
                    query, notes=(*notes, note("no_filter_match", what=what)), total_candidates=0
                )

        if vector is None:
            if candidates is None:  # nothing left to search by
                return SearchResult(query, notes=tuple(notes) or (note("empty"),))
            # Ranked in full, so photos dated only by their file time can go after the rest
            # before the list is cut.
            if ranked is not None:
                ids, scores = ranked
            else:
                ids, scores = self._rank_without_text(candidates, people, len(candidates))
            ids, scores = self._certain_dates_first(ids, scores, query)
            hits = self._hits(ids[:limit], scores[:limit], query, people, text="", like=None)
            return SearchResult(query, hits, tuple(notes), len(candidates))

        ids, scores, total, problem = self._rank_by_vector(vector, candidates, like, limit)
        if problem:
            notes.append(problem)
        elif len(ids) == 0:
            what = short(like.name if like is not None else text)
            if candidates is None:
                notes.append(note("no_good_matches", text=what))
            else:
                among = _describe(query, people)
                notes.append(note("no_good_matches_among", text=what, count=total, what=among))
        ids, scores = self._certain_dates_first(ids, scores, query)
        hits = self._hits(ids, scores, query, people, text=text, like=like, vector=vector)
        return SearchResult(query, hits, tuple(notes), total)

    def select(self, query: Query) -> tuple[np.ndarray | None, tuple[str, ...]]:
        """Ids of the photos a query's people, dates, places and words leave (None: every
        photo; the description is not used), and notes saying why none can pass."""
        narrowed = self._narrow(query)
        if isinstance(narrowed, SearchResult):
            return np.empty(0, np.int64), narrowed.notes
        people, places, written, notes = narrowed
        if not (people.all_of or people.any_of or people.none_of or query.dates or places):
            return written, tuple(notes)
        found = self._filter(query, people, places, newest_first=False)
        ids = found if written is None else written[np.isin(written, found)]
        return ids, tuple(notes)

    def _narrow(
        self, query: Query
    ) -> SearchResult | tuple[_People, list[str] | None, np.ndarray | None, list[str]]:
        """People, places and words of a query resolved, or the result saying none can match."""
        people = self._resolve_people(query)
        notes = list(people.notes)
        if people.stop:
            return SearchResult(query, notes=tuple(notes))
        if query.dates is not None and _naive(query.dates.start) > datetime.now():
            label = query.dates.label or query.dates.start.date().isoformat()
            return SearchResult(
                query, notes=(*notes, note("future", label=label[:1].upper() + label[1:]))
            )
        places = None
        if query.places:
            places = self.catalog.matching_places(query.places)
            if not places:
                what = phrase("or").join(query.places)
                return SearchResult(query, notes=(*notes, note("unknown_place", place=what)))

        written = self._written(query.words)
        if written is not None and not len(written):
            return SearchResult(query, notes=(*notes, *self._no_written(query.words)))

        return people, places, written, notes

    def _filter(
        self, query: Query, people: _People, places: list[str] | None, newest_first: bool
    ) -> np.ndarray:
        """Photos passing the people, date and place filters (SQL, or people from memory)."""
        wanted = bool(people.all_of or people.any_of)
        if wanted and not (query.only or query.dates or places):
            return self.people.current().photos(
                people.all_of, people.any_of, people.none_of, newest_first=newest_first
            )
        return self.catalog.filter_photos(
            people.all_of,
            people.any_of,
            people.none_of,
            only=query.only,
            start=_iso(query.dates.start) if query.dates else None,
            end=_iso(query.dates.end) if query.dates else None,
            places=places,
            stranger_size=self.settings.only_stranger_size,
            newest_first=newest_first,
        )

    def _certain_dates_first(
        self, ids: np.ndarray, scores: np.ndarray, query: Query
    ) -> tuple[np.ndarray, np.ndarray]:
        """For a date query, photos whose date is only their file time go last."""
        if query.dates is None or len(ids) == 0:
            return ids, scores
        rows = self.catalog.photos(int(i) for i in ids)
        uncertain = np.array(
            [
                rows[int(i)]["taken_source"] == capture_dates.UNCERTAIN if int(i) in rows else False
                for i in ids
            ]
        )
        return certain_first(ids, scores, uncertain)

    def _limit(self, asked: int | None) -> int:
        limit = asked if asked is not None else self.settings.search_default_limit
        return max(1, min(int(limit), self.settings.search_max_limit))

    def _resolve_people(self, query: Query) -> _People:
        """Names to ids; unknown or contradictory people stop the search with a note."""
        catalog = self.catalog
        notes: list[str] = []
        names: dict[int, str] = {}
        unknown: list[str] = list(query.unknown_names)

        def ids_of(group: tuple[str, ...]) -> tuple[int, ...]:
            out = []
            for name in group:
                pid = self._person_id(name)
                if pid is None:
                    unknown.append(name)
                    continue
                out.append(pid)
                names.setdefault(pid, name)
            return tuple(dict.fromkeys(out))

        all_of = ids_of(query.people_all)
        stop = len(unknown) > 0  # a required person nobody knows: no photo can be "of" them
        any_of = ids_of(query.people_any)
        if query.people_any and not any_of:
            stop = True
        none_of = ids_of(query.people_none)  # excluding somebody unknown excludes nothing
        for name in dict.fromkeys(unknown):
            notes.append(note("unknown_person", name=name))
        if stop:
            return _People(notes=tuple(notes), stop=True)

        display = catalog.person_display_names(names)
        names = {pid: display.get(pid) or person_label(pid) for pid in names}
        clash = [pid for pid in all_of if pid in none_of]
        if any_of and set(any_of) <= set(none_of):
            clash += [pid for pid in any_of if pid not in clash]
        if clash:
            listed = names_and([names[pid] for pid in clash])
            return _People(notes=(*notes, note("contradiction", names=listed)), stop=True)
        any_of = tuple(pid for pid in any_of if pid not in none_of)
        return _People(all_of, any_of, none_of, names, tuple(notes))

    def _person_id(self, name: str) -> int | None:
        person = self.catalog.person_by_name(name.strip())
        if person is not None:
            return int(person["id"])
        label_id = labelled_person(name)  # "person 7": an unnamed cluster, by its label
        if label_id is not None and self.catalog.person_display_names([label_id]):
            return label_id
        return None

    def _query_vector(
        self, text: str, like: Like | None, has_filters: bool
    ) -> tuple[np.ndarray | None, list[str]]:
        """The CLIP vector to rank by (photo, description, or both), or None with why."""
        notes: list[str] = []
        text_vec = None
        if text:
            try:
                text_vec = self.encode_text(text)
            except ModelUnavailable as err:
                key = "needs_clip_ranked" if (has_filters or like) else "needs_clip"
                notes.append(note(key, error=str(err)))
            else:
                store = self.image_index()
                if len(store) == 0:
                    notes.append(no_vectors(self.catalog.vector_models(), self.model))
                    text_vec = None
        if like is None:
            return text_vec, notes
        vec = (
            like.vector
            if text_vec is None
            else normalise((normalise(like.vector[None])[0] + text_vec)[None])[0]
        )
        return vec, notes

    def _rank_by_vector(
        self, vector: np.ndarray, candidates: np.ndarray | None, like: Like | None, limit: int
    ) -> tuple[np.ndarray, np.ndarray, int, str | None]:
        """(ids, scores) of the matches, best first; how many photos were ranked; a note."""
        store = self.image_index()
        if len(store) == 0:
            note_ = no_vectors(self.catalog.vector_models(), self.model)
            return np.zeros(0, np.int64), np.zeros(0), 0, note_
        k = max(limit, self.settings.search_candidates) + (1 if like else 0)
        ids, scores = store.search(vector, k, allowed=candidates)
        _, first = np.unique(ids, return_index=True)  # a video once, at its best moment
        first = np.sort(first)
        ids, scores = ids[first], scores[first]
        if like is not None and like.exclude is not None:
            keep = ids != like.exclude
            ids, scores = ids[keep], scores[keep]
        kept, _ = tail_cut(scores, store.background(vector), self.settings)
        n = min(kept, limit)
        total = len(candidates) if candidates is not None else len(store)
        return ids[:n], scores[:n], total, None

    def _one_person(self, person_id: int) -> tuple[np.ndarray, np.ndarray]:
        """All photos of one person, ranked as `_rank_without_text` ranks them; every
        person's ranking is made at once after each reload and kept until the next."""
        table = self.people.current().memo("one_person", self._rank_everyone)
        return table.get(person_id, (np.zeros(0, np.int64), np.zeros(0)))

    def _rank_everyone(self, people: PeopleIndex) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        faces = people.assigned_faces()
        if not len(faces.get("face_id", ())):
            return {}
        conf = face_confidence(faces["distance"], faces["width"], faces["score"], self.settings)
        person, photo = faces["person_id"], faces["photo_id"]
        rank = people.ranks(photo)
        readable = rank != np.iinfo(np.int64).max
        person, photo, conf, rank = (
            person[readable],
            photo[readable],
            conf[readable],
            rank[readable],
        )
        # A photo's confidence is its best face of that person.
        best = np.lexsort((-conf, photo, person))
        person, photo, conf, rank = person[best], photo[best], conf[best], rank[best]
        first = np.ones(len(person), bool)
        first[1:] = (person[1:] != person[:-1]) | (photo[1:] != photo[:-1])
        person, photo, conf, rank = person[first], photo[first], conf[first], rank[first]
        # Then rank_by_confidence's order: confidence buckets, ties newest first.
        bucket = max(self.settings.face_rank_bucket, 1e-9)
        keys = -np.floor(conf / bucket + 1e-9)
        order = np.lexsort((rank, keys, person))
        person, photo, conf = person[order], photo[order], conf[order]
        starts = np.flatnonzero(np.r_[True, person[1:] != person[:-1]])
        ends = np.r_[starts[1:], len(person)]
        return {
            int(person[a]): (photo[a:b].astype(np.int64), conf[a:b])
            for a, b in zip(starts, ends, strict=True)
        }

    def _rank_without_text(
        self, candidates: np.ndarray, people: _People, limit: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Candidates (newest first) ranked by face match confidence, then date."""
        if not people.wanted:
            return candidates[:limit], np.ones(min(limit, len(candidates)))
        faces = self.people.current().faces_of(people.wanted)
        conf = face_confidence(faces["distance"], faces["width"], faces["score"], self.settings)
        photo_conf = photo_confidence(
            candidates, faces["photo_id"], faces["person_id"], conf, people.all_of, people.any_of
        )
        order = rank_by_confidence(photo_conf, self.settings.face_rank_bucket)[:limit]
        return candidates[order], photo_conf[order]

    def _written(self, phrases: tuple[str, ...]) -> np.ndarray | None:
        """Ids of photos showing every phrase, best first; None when no words were asked."""
        match = phrase_query(phrases) if phrases else None
        if match is None:
            return None
        return np.asarray(self.catalog.photos_with_text(match), dtype=np.int64)

    def _no_written(self, phrases: tuple[str, ...]) -> tuple[str, ...]:
        """Why no photo was found by its words, and whether some words are not read yet."""
        said = phrase("and").join(phrase("quoted", text=p) for p in phrases)
        notes = [note("no_words", words=said)]
        pending = self.words_pending()
        if pending:
            notes.append(note("words_pending", count=pending))
        elif pending is None:
            notes.append(note("words_off"))
        return tuple(notes)

    def _hits(
        self,
        ids: np.ndarray,
        scores: np.ndarray,
        query: Query,
        people: _People,
        text: str,
        like: Like | None,
        vector: np.ndarray | None = None,
    ) -> tuple[Hit, ...]:
        """Hits with their reasons, in the order given; a video at the moment most like
        `vector` (its first moment without one)."""
        if len(ids) == 0:
            return ()
        ids = [int(i) for i in ids]
        rows = self.catalog.photos(ids)
        clips = [i for i, r in rows.items() if r.get("kind") == "video"]
        moments = self.catalog.moments(clips, self.model) if clips else {}
        faces: dict[int, list[Face]] = {}
        for f in self.catalog.faces_in_photos(ids) if people.wanted else []:
            faces.setdefault(f["photo_id"], []).append(f)
        lines = self.catalog.text_lines(ids)
        hits = []
        for photo_id, score in zip(ids, scores, strict=True):
            row = rows.get(photo_id)
            if row is None:
                continue  # removed since the index was built
            here = faces.get(photo_id, [])
            matches = _person_matches(here, people)
            like_name = like.name if like is not None else None
            read = [line["text"] for line in lines.get(photo_id, [])]
            why = hit_reasons(row, matches, here, query, float(score), text, like_name, read)
            thumb, time_s = photo_refs.thumbnail(self.catalog.data_dir, row), None
            if row.get("kind") == "video":
                times, vecs = moments.get(photo_id, ([0.0], None))
                seen = [f.get("time_s") for f in here if f["id"] in {m.face_id for m in matches}]
                seen += videos.words_seen(lines.get(photo_id, []), query.words)
                k = videos.shown_moment(times, vecs, vector, seen)
                thumb, time_s = (
                    videos.moment_thumb(self.catalog.data_dir, row, k) or thumb,
                    times[k],
                )
            hits.append(
                Hit(
                    photo_id=photo_id,
                    path=row["path"],
                    score=float(score),
                    people=tuple(matches),
                    reasons=why,
                    taken_at=row["taken_at"],
                    place=row["place"],
                    thumbnail=thumb,
                    taken_source=row["taken_source"] if row["taken_at"] else None,
                    date_note=date_note(row["taken_at"], row["taken_source"]),
                    words=tuple(read),
                    kind=row.get("kind") or "photo",
                    time_s=time_s,
                )
            )
        return tuple(hits)


# --- small helpers ---


def _person_matches(faces: list[Face], people: _People) -> list[PersonMatch]:
    """For each wanted person in the photo, their closest face."""
    best: dict[int, dict] = {}
    for f in faces:
        pid = f["person_id"]
        if pid in people.wanted:
            dist = _distance(f)
            if pid not in best or dist < _distance(best[pid]):
                best[pid] = f
    return [
        PersonMatch(
            person_id=pid,
            name=people.names.get(pid) or best[pid]["person_name"] or person_label(pid),
            face_id=best[pid]["id"],
            distance=_distance(best[pid]),
            box=tuple(float(v) for v in best[pid]["box"]),
        )
        for pid in people.wanted
        if pid in best
    ]


def _distance(face: Face) -> float:
    return 0.0 if face["source"] == "user" else float(face["distance"] or 0.0)


def _describe(query: Query, people: _People) -> str:
    """The filters of a query in words, for notes."""
    return describe(query, people.names, people.all_of, people.any_of, people.none_of)


def _has_words(text: str) -> bool:
    """Whether text has anything CLIP could read (letters or digits, not only punctuation)."""
    return any(ch.isalnum() for ch in text or "")


def _naive(moment: datetime) -> datetime:
    return moment.astimezone().replace(tzinfo=None) if moment.tzinfo else moment


def _iso(moment: datetime) -> str:
    """A datetime as the catalog's taken_at text (local, naive, to the second)."""
    return _naive(moment).isoformat(timespec="seconds")
