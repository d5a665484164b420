"""The catalog's schema: one SQL script per version, applied step by step."""

from __future__ import annotations

# Each step upgrades the schema by one version; never edit a step that has shipped.
MIGRATIONS: list[str] = [
    # 1: photos, image vectors, models, faces, people
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE photos (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        path_raw BLOB NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        hash TEXT,
        width INTEGER,
        height INTEGER,
        taken_at TEXT,
        taken_source TEXT,
        lat REAL,
        lon REAL,
        place TEXT,
        status TEXT NOT NULL DEFAULT 'ok',
        error TEXT,
        faces_model TEXT,
        indexed_at REAL NOT NULL
    );
    CREATE INDEX photos_hash ON photos(hash);
    CREATE INDEX photos_taken ON photos(taken_at);
    CREATE INDEX photos_place ON photos(place);
    CREATE TABLE image_vectors (
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        vector BLOB NOT NULL
    );
    CREATE TABLE models (
        kind TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        dim INTEGER,
        recorded_at REAL NOT NULL
    );
    CREATE TABLE people (
        id INTEGER PRIMARY KEY,
        name TEXT UNIQUE COLLATE NOCASE,
        created_at REAL NOT NULL
    );
    CREATE TABLE aliases (
        alias TEXT PRIMARY KEY COLLATE NOCASE,
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE
    );
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
        landmarks TEXT,
        score REAL NOT NULL,
        model TEXT NOT NULL,
        vector BLOB NOT NULL,
        person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
        source TEXT NOT NULL DEFAULT 'auto',  -- 'auto' (clustering) or 'user'
        distance REAL  -- to its person when assigned (0 for the user's own choice)
    );
    CREATE INDEX faces_photo ON faces(photo_id);
    CREATE INDEX faces_person ON faces(person_id);
    CREATE TABLE face_rejections (
        face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        PRIMARY KEY (face_id, person_id)
    );
    """,
    # 2: people filters read (person, photo) pairs straight from an index
    """
    CREATE INDEX faces_person_photo ON faces(person_id, photo_id);
    """,
    # 3: which encoder backend made each image vector (torch, onnxruntime-fp32, ...-int8)
    """
    ALTER TABLE image_vectors ADD COLUMN backend TEXT NOT NULL DEFAULT 'torch';
    """,
    # 4: the inode change time, so a skipped file made readable again (chmod) is retried;
    # every date says where it came from (exif, xmp, filename, folder or file)
    """
    ALTER TABLE photos ADD COLUMN ctime_ns INTEGER NOT NULL DEFAULT 0;
    UPDATE photos SET taken_source='file' WHERE taken_at IS NOT NULL AND taken_source IS NULL;
    """,
    # 5: words read in photos (OCR): lines with boxes, and a full-text index of each photo
    """
    CREATE TABLE photo_text (
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        read_at REAL NOT NULL
    );
    CREATE TABLE text_lines (
        id INTEGER PRIMARY KEY,
        photo_id INTEGER NOT NULL REFERENCES photo_text(photo_id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        text TEXT NOT NULL,
        confidence REAL NOT NULL,
        x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL
    );
    CREATE INDEX text_lines_photo ON text_lines(photo_id);
    -- rowid = photo id; `folded` is the photo's text after index.folding.fold
    CREATE VIRTUAL TABLE text_search USING fts5(folded, tokenize='unicode61');
    CREATE TRIGGER photo_text_gone AFTER DELETE ON photo_text BEGIN
        DELETE FROM text_search WHERE rowid=old.photo_id;
    END;
    """,
    # 6: a counter of changes to who is in which photo, kept by SQLite itself, so the
    # in-memory people map (index/people_index.py) knows when to reload, whoever wrote
    """
    INSERT OR IGNORE INTO meta(key, value) VALUES('generation.people', '0');
    CREATE TRIGGER faces_people_insert AFTER INSERT ON faces WHEN new.person_id IS NOT NULL
    BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation.people';
    END;
    CREATE TRIGGER faces_people_update AFTER UPDATE OF person_id, distance, source ON faces
    BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation.people';
    END;
    CREATE TRIGGER faces_people_delete AFTER DELETE ON faces WHEN old.person_id IS NOT NULL
    BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation.people';
    END;
    CREATE TRIGGER photos_dates_update AFTER UPDATE OF taken_at, status ON photos
    BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation.people';
    END;
    """,
    # 7: files that belong to a photo without being photos of their own: the RAW of a
    # RAW+JPEG pair ("raw"), later a Live Photo's clip ("live")
    """
    CREATE TABLE companions (
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        path TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL
    );
    CREATE INDEX companions_photo ON companions(photo_id);
    """,
    # 8: what the duplicate finder compares: a perceptual hash (hex) and a sharpness per
    # photo, made from the content named by `content` (recomputed when the file changes)
    """
    CREATE TABLE photo_looks (
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        content TEXT NOT NULL,
        phash TEXT NOT NULL,
        sharpness REAL NOT NULL
    );
    """,
    # 9: a motion photo's clip: where the MP4 lies inside the still's file (bytes)
    """
    ALTER TABLE photos ADD COLUMN clip_start INTEGER;
    ALTER TABLE photos ADD COLUMN clip_end INTEGER;
    """,
    # 10: videos are items of the library too ("kind"), with their length and the moments
    # sampled from them: when each is, and its CLIP vector (search finds the moment)
    """
    ALTER TABLE photos ADD COLUMN kind TEXT NOT NULL DEFAULT 'photo';
    ALTER TABLE photos ADD COLUMN duration_s REAL;
    CREATE TABLE moments (
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        time_s REAL NOT NULL,
        model TEXT NOT NULL,
        backend TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (photo_id, idx)
    );
    CREATE INDEX photos_kind ON photos(kind);
    """,
    # 11: a counter per person of changes to what people.json says of them (their faces,
    # refusals, aliases, the photos' hashes), kept by SQLite itself, so a people edit
    # rewrites only the people who changed (index/people_snapshot.py), whoever wrote
    """
    ALTER TABLE people ADD COLUMN changes INTEGER NOT NULL DEFAULT 0;
    CREATE TRIGGER people_file_face_in AFTER INSERT ON faces WHEN new.person_id IS NOT NULL
    BEGIN
        UPDATE people SET changes = changes + 1 WHERE id = new.person_id;
    END;
    CREATE TRIGGER people_file_face_moved AFTER UPDATE OF person_id, source ON faces
    WHEN old.person_id IS NOT new.person_id OR old.source IS NOT new.source
    BEGIN
        UPDATE people SET changes = changes + 1 WHERE id IN (old.person_id, new.person_id);
    END;
    CREATE TRIGGER people_file_face_out AFTER DELETE ON faces WHEN old.person_id IS NOT NULL
    BEGIN
        UPDATE people SET changes = changes + 1 WHERE id = old.person_id;
    END;
    CREATE TRIGGER people_file_refusal_in AFTER INSERT ON face_rejections
    BEGIN
        UPDATE people SET changes = changes + 1 WHERE id = new.person_id;
    END;
    CREATE TRIGGER people_file_refusal_out AFTER DELETE ON face_rejections
    BEGIN
        UPDATE people SET changes = changes + 1 WHERE id = old.person_id;
    END;
    CREATE TRIGGER people_file_alias_in AFTER INSERT ON aliases
    BEGIN
        UPDATE people SET changes = changes + 1 WHERE id = new.person_id;
    END;
    CREATE TRIGGER people_file_alias_moved AFTER UPDATE ON aliases
    BEGIN
        UPDATE people SET changes = changes + 1 WHERE id IN (old.person_id, new.person_id);
    END;
    CREATE TRIGGER people_file_alias_out AFTER DELETE ON aliases
    BEGIN
        UPDATE people SET changes = changes + 1 WHERE id = old.person_id;
    END;
    CREATE TRIGGER people_file_photo_hash AFTER UPDATE OF hash ON photos
    WHEN old.hash IS NOT new.hash
    BEGIN
        UPDATE people SET changes = changes + 1 WHERE id IN (
            SELECT person_id FROM faces WHERE photo_id = new.id
            UNION SELECT r.person_id FROM face_rejections r JOIN faces f ON f.id = r.face_id
            WHERE f.photo_id = new.id);
    END;
    """,
    # 12: a video's faces and words are seen in its moments: when (seconds), so a search for
    # the person or the words opens the video there
    """
    ALTER TABLE faces ADD COLUMN time_s REAL;
    ALTER TABLE text_lines ADD COLUMN time_s REAL;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
