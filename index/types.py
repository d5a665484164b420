"""Plain data that crosses module boundaries: catalog rows, queries in, hits out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NotRequired, TypedDict

from index.capture_dates import UNCERTAIN

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in the photo's own pixels


class Photo(TypedDict):
    """One photo as stored; `status` is 'ok' or 'skipped' (then `error` says why)."""

    id: int
    path: str
    size: int
    mtime_ns: int
    hash: str | None
    width: int | None
    height: int | None
    taken_at: str | None
    taken_source: str | None
    lat: float | None
    lon: float | None
    place: str | None
    status: str
    error: str | None
    faces_model: str | None
    ctime_ns: int  # inode change time: a skipped file made readable again is retried


class Face(TypedDict):
    """One face as the catalog gives it, whichever query asked: the one face shape."""

    id: int
    photo_id: int
    idx: int  # 0-based position in its photo, left to right
    box: Box
    person_id: int | None
    person_name: str | None  # the person's name; None when unnamed or unassigned
    source: str  # who decided the person: "auto" (clustering) or "user"
    distance: float | None  # to the person's faces when the clustering assigned it
    score: float  # the detector's confidence
    landmarks: NotRequired[list]  # five (x, y) points: eyes, nose, mouth corners
    vector: NotRequired[Any]  # the face vector (numpy float32), when the query reads it
    model: NotRequired[str]  # the face model that made the vector
    photo_hash: NotRequired[str | None]  # its photo's content hash (for the crop file)
    time_s: NotRequired[float | None]  # a video's face: seconds into it where it was seen


class Person(TypedDict):
    """One person: a name, or None for a cluster nobody has named yet ("person 7")."""

    id: int
    name: str | None


@dataclass(frozen=True)
class DateRange:
    """A half-open range of capture times, [start, end)."""

    start: datetime
    end: datetime
    label: str = ""  # the words the user wrote, e.g. "summer 2019"


@dataclass(frozen=True)
class Query:
    """One search, structured: who, when, where, and what it looks like."""

    raw: str = ""
    text: str = ""  # descriptive remainder for CLIP; "" when nothing is left
    people_all: tuple[str, ...] = ()  # canonical person names, all must appear
    people_any: tuple[str, ...] = ()  # at least one must appear
    people_none: tuple[str, ...] = ()  # none may appear
    only: bool = False  # nobody else recognised in the photo
    unknown_names: tuple[str, ...] = ()  # person names nobody has been given
    # a part of a name several people share, as typed, and their full names ("Jones")
    ambiguous: tuple[tuple[str, tuple[str, ...]], ...] = ()
    dates: DateRange | None = None
    places: tuple[str, ...] = ()  # place names known to the catalog
    words: tuple[str, ...] = ()  # text written in the photo (read by OCR); each must appear
    limit: int | None = None
    like_photo: str | None = None  # query by example: path of a photo
    media: str | None = None  # "video" or "photo" only; None: both
    min_seconds: float | None = None  # videos at least this long
    max_seconds: float | None = None  # videos at most this long

    @property
    def has_people(self) -> bool:
        """True when the query filters by people at all."""
        return bool(self.people_all or self.people_any or self.people_none)

    @property
    def has_media(self) -> bool:
        """True when the query keeps only videos or only photos (or videos of some length)."""
        return bool(self.media or self.min_seconds is not None or self.max_seconds is not None)

    def to_json(self) -> dict:
        """The query as JSON-ready data (dates as ISO strings)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        if self.dates is not None:
            d["dates"] = {
                "start": self.dates.start.isoformat(),
                "end": self.dates.end.isoformat(),
                "label": self.dates.label,
            }
        return d


@dataclass(frozen=True)
class PersonMatch:
    """Why a person counts as present in a photo: which face, how close."""

    person_id: int
    name: str  # display name, or "person N" for an unnamed cluster
    face_id: int
    distance: float
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Hit:
    """One photo in a result list, with everything needed to show and explain it."""

    photo_id: int
    path: str
    score: float
    people: tuple[PersonMatch, ...] = ()
    reasons: tuple[str, ...] = ()
    taken_at: str | None = None
    place: str | None = None
    thumbnail: str | None = None
    taken_source: str | None = None  # exif, xmp, filename, folder or file (index/capture_dates.py)
    date_note: str = ""  # the source in words, e.g. "from the file name"
    words: tuple[str, ...] = ()  # the lines of text read in the photo (OCR)
    kind: str = "photo"  # or "video"
    time_s: float | None = None  # a video: seconds into it of the moment that matched

    @property
    def date_uncertain(self) -> bool:
        """Whether its date comes only from the file's time (a copy or a download changes it)."""
        return self.taken_source == UNCERTAIN

    def to_json(self) -> dict:
        """The hit as JSON-ready data, in the command line's documented shape."""
        return {
            "path": self.path,
            "score": round(float(self.score), 4),
            "people": [
                {"name": p.name, "face_id": p.face_id, "distance": round(p.distance, 4)}
                for p in self.people
            ],
            "reasons": list(self.reasons),
            "taken_at": self.taken_at,
            "taken_source": self.taken_source,
            "place": self.place,
            "words": list(self.words),
            "kind": self.kind,
            **({"time_s": self.time_s} if self.kind == "video" else {}),
        }


@dataclass(frozen=True)
class SearchResult:
    """Hits plus what the user should be told about them (e.g. no good matches)."""

    query: Query
    hits: tuple[Hit, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)  # user-facing remarks
    total_candidates: int | None = None


# --- people, as the UI and the command line show them ---


@dataclass(frozen=True)
class PersonInfo:
    """A person as the UI and the command line show it."""

    id: int
    name: str | None  # None for an unnamed cluster
    label: str  # the name, or "person 7"
    photo_count: int
    face_count: int
    crop: str | None  # a face crop thumbnail
    aliases: tuple[str, ...] = ()

    def to_json(self) -> dict:
        """JSON-ready data for `people --json`."""
        return {
            "id": self.id,
            "name": self.name,
            "label": self.label,
            "photos": self.photo_count,
            "faces": self.face_count,
            "aliases": list(self.aliases),
            "crop": self.crop,
        }


@dataclass(frozen=True)
class FaceInfo:
    """One face of a photo, left to right, and whom it belongs to."""

    face_id: int | None  # None for a face of an uploaded photo
    index: int  # 1-based, left to right
    box: Box
    person_id: int | None
    label: str | None  # the person's name or "person 7"; None when unassigned
    distance: float | None
    crop: str | None


@dataclass(frozen=True)
class NamingResult:
    """What naming did: the person, how many faces and photos it has now, how many joined."""

    person_id: int
    name: str
    faces: int
    photos: int
    joined: int  # faces that joined on their own, being close to the named ones


@dataclass(frozen=True)
class DatedPhoto:
    """A photo's date, and whether it comes only from the file's time (uncertain)."""

    photo_id: int
    taken_at: str
    uncertain: bool

    def query(self, base: Query) -> Query:
        """`base` narrowed to this photo's moment: a search that shows it as evidence."""
        at = datetime.fromisoformat(self.taken_at)
        moment = DateRange(at, at + timedelta(seconds=1), self.taken_at[:10])
        return Query(
            raw=base.raw,
            people_all=base.people_all,
            people_any=base.people_any,
            people_none=base.people_none,
            only=base.only,
            places=base.places,
            words=base.words,
            dates=moment,
            limit=1,
        )


@dataclass(frozen=True)
class Facts:
    """What the library can say about the photos a query selects."""

    count: int  # photos selected
    notes: tuple[str, ...] = ()  # why none could be selected (an unknown name, place, ...)
    first: DatedPhoto | None = None
    last: DatedPhoto | None = None
    periods: tuple[tuple[str, int, int], ...] = ()  # (year or YYYY-MM, photos, file-dated)
    places: tuple[tuple[str, int], ...] = ()  # most photos first
    people: tuple[tuple[str, int], ...] = ()  # others in the photos, most shared first
