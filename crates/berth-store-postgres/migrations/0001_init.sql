-- berth's PostgreSQL schema, version 1 (the same shape as SQLite's schema version 3).
-- Times are epoch milliseconds (BIGINT), JSON is TEXT except `requires` (JSONB, for `<@`).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE jobs (
    id                TEXT PRIMARY KEY,
    spec              TEXT NOT NULL,
    status            TEXT NOT NULL,
    reason            TEXT,
    exit_code         BIGINT,
    owner             TEXT,
    attempts          BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT,
    result            TEXT,
    tenant            TEXT NOT NULL DEFAULT 'local',
    queue             TEXT NOT NULL DEFAULT 'default',
    idempotency_key   TEXT,
    idempotency_fp    TEXT,
    run_at            BIGINT NOT NULL,
    priority          BIGINT NOT NULL DEFAULT 0,
    lease_token       BIGINT NOT NULL DEFAULT 0,
    lease_expires_at  BIGINT,
    concurrency_key   TEXT,
    concurrency_limit BIGINT,
    requires          JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX jobs_by_created ON jobs (created_at, id);
CREATE INDEX jobs_claim ON jobs (queue, priority DESC, run_at, created_at, id) WHERE status = 'queued';
CREATE INDEX jobs_by_status ON jobs (status);
CREATE INDEX jobs_by_tenant ON jobs (tenant, status);
CREATE INDEX jobs_by_queue ON jobs (queue, status);
CREATE UNIQUE INDEX jobs_by_idempotency ON jobs (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_by_lease ON jobs (lease_expires_at) WHERE lease_expires_at IS NOT NULL;
CREATE INDEX jobs_by_key ON jobs (tenant, concurrency_key, status) WHERE concurrency_key IS NOT NULL;
CREATE INDEX jobs_by_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE attempts (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    number       BIGINT NOT NULL,
    owner        TEXT,
    container_id TEXT,
    image_digest TEXT,
    output_dir   TEXT,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT,
    exit_code    BIGINT,
    reason       TEXT,
    peak_memory  BIGINT,
    cpu_seconds  DOUBLE PRECISION,
    PRIMARY KEY (job_id, number)
);

CREATE TABLE log_chunks (
    job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq     BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    stream  BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    data    BYTEA NOT NULL,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE events (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq    BIGINT NOT NULL,
    at     BIGINT NOT NULL,
    kind   TEXT NOT NULL,
    data   TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE artifacts (
    job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL,
    name    TEXT NOT NULL,
    size    BIGINT NOT NULL,
    PRIMARY KEY (job_id, attempt, name)
);

-- Outlives job deletion on purpose: the audit trail of what berth did on the engines.
CREATE TABLE containers (
    name         TEXT PRIMARY KEY,
    container_id TEXT,
    job_id       TEXT NOT NULL,
    attempt      BIGINT NOT NULL,
    backend      TEXT NOT NULL,
    planned_at   BIGINT NOT NULL,
    created_at   BIGINT,
    started_at   BIGINT,
    finished_at  BIGINT,
    removed_at   BIGINT
);
CREATE INDEX containers_by_job ON containers (job_id);

CREATE TABLE tenants (
    name           TEXT PRIMARY KEY,
    webhook_secret TEXT NOT NULL,
    max_running    BIGINT,
    created_at     BIGINT NOT NULL
);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    admin      BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE audit (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    tenant  TEXT,
    action  TEXT NOT NULL,
    target  TEXT,
    outcome TEXT NOT NULL
);

CREATE TABLE deliveries (
    id           BIGSERIAL PRIMARY KEY,
    job_id       TEXT NOT NULL,
    tenant       TEXT NOT NULL,
    url          TEXT NOT NULL,
    body         TEXT NOT NULL,
    state        TEXT NOT NULL,
    tries        BIGINT NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    last_status  BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX deliveries_due ON deliveries (state, next_at);
CREATE INDEX deliveries_by_job ON deliveries (job_id);

CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    version      TEXT NOT NULL,
    slots        BIGINT NOT NULL,
    queues       TEXT NOT NULL,
    tags         TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    state        TEXT NOT NULL,
    running      BIGINT NOT NULL,
    breaker      TEXT NOT NULL
);

CREATE TABLE queue_limits (
    name        TEXT PRIMARY KEY,
    max_running BIGINT NOT NULL
);
