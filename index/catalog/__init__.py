"""The catalog: one SQLite file that is the truth about the library. All SQL lives here.

- `schema.py`  the schema, one migration per version
- `store.py`   opening it, upgrading it step by step, transactions, meta and models
- `photo_queries.py` photos and their CLIP vectors
- `filters.py` what a search asks: candidate photos by people, dates, places
- `face_queries.py`  faces, people and aliases
- `word_queries.py`  words read in photos (OCR), searched with FTS5
- `fact_queries.py`  questions over a selection: first/last dates, years, places, who with whom
- `media_queries.py` companion files (a RAW beside its JPEG) and counts by format
"""

from index.catalog.face_queries import FaceQueries
from index.catalog.fact_queries import FactQueries
from index.catalog.filters import FilterQueries
from index.catalog.media_queries import MediaQueries
from index.catalog.photo_queries import PhotoQueries
from index.catalog.schema import MIGRATIONS, SCHEMA_VERSION
from index.catalog.store import (
    CATALOG_NAME,
    LIBRARY_TRACES,
    SQLITE_MAGIC,
    blob_to_vec,
    damaged_message,
    library_traces,
    path_text,
    vec_to_blob,
)
from index.catalog.word_queries import WordQueries
from index.types import Photo

PhotoRow = Photo  # the name callers have used


class Catalog(PhotoQueries, WordQueries, FilterQueries, FaceQueries, FactQueries, MediaQueries):
    """The SQLite catalog of one data dir: schema, migrations and every query."""


__all__ = [
    "CATALOG_NAME",
    "Catalog",
    "LIBRARY_TRACES",
    "MIGRATIONS",
    "PhotoRow",
    "SCHEMA_VERSION",
    "SQLITE_MAGIC",
    "blob_to_vec",
    "damaged_message",
    "library_traces",
    "path_text",
    "vec_to_blob",
]
