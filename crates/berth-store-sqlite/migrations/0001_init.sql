-- berth's embedded schema, version 1. Times are epoch milliseconds (INTEGER), JSON is TEXT.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT,
    exit_code   INTEGER,
    owner       TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    result      TEXT
);
CREATE INDEX jobs_by_status ON jobs (status, created_at);
CREATE INDEX jobs_by_created ON jobs (created_at);

CREATE TABLE attempts (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    number       INTEGER NOT NULL,
    owner        TEXT,
    container_id TEXT,
    image_digest TEXT,
    output_dir   TEXT,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    exit_code    INTEGER,
    reason       TEXT,
    peak_memory  INTEGER,
    cpu_seconds  REAL,
    PRIMARY KEY (job_id, number)
);

CREATE TABLE log_chunks (
    job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    stream  INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    data    BLOB NOT NULL
);
CREATE UNIQUE INDEX log_chunks_by_seq ON log_chunks (job_id, seq);

CREATE TABLE events (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    at     INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    data   TEXT NOT NULL
);
CREATE UNIQUE INDEX events_by_seq ON events (job_id, seq);

CREATE TABLE artifacts (
    job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    name    TEXT NOT NULL,
    size    INTEGER NOT NULL,
    PRIMARY KEY (job_id, attempt, name)
);

-- The container ledger outlives job deletion on purpose: it is the audit trail of what
-- berth created and removed on the engine.
CREATE TABLE containers (
    name         TEXT PRIMARY KEY,
    container_id TEXT,
    job_id       TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    backend      TEXT NOT NULL,
    planned_at   INTEGER NOT NULL,
    created_at   INTEGER,
    started_at   INTEGER,
    finished_at  INTEGER,
    removed_at   INTEGER
);
CREATE INDEX containers_by_job ON containers (job_id);
