-- Version 2: what `berth server` needs: tenants and queues on jobs, idempotency keys,
-- hashed API tokens, the audit log and the webhook outbox.
ALTER TABLE jobs ADD COLUMN tenant TEXT NOT NULL DEFAULT 'local';
ALTER TABLE jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE jobs ADD COLUMN idempotency_key TEXT;
ALTER TABLE jobs ADD COLUMN idempotency_fp TEXT;
CREATE UNIQUE INDEX jobs_by_idempotency ON jobs (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_by_tenant ON jobs (tenant, status);

CREATE TABLE tenants (
    name           TEXT PRIMARY KEY,
    webhook_secret TEXT NOT NULL,
    max_running    INTEGER,
    created_at     INTEGER NOT NULL
);

-- Only the SHA-256 of a token is kept.
CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    admin      INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    tenant  TEXT,
    action  TEXT NOT NULL,
    target  TEXT,
    outcome TEXT NOT NULL
);

-- The webhook outbox: rows are written with the terminal status, in the same transaction.
-- They outlive the job on purpose (a deleted job's webhook still goes out).
CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       TEXT NOT NULL,
    tenant       TEXT NOT NULL,
    url          TEXT NOT NULL,
    body         TEXT NOT NULL,
    state        TEXT NOT NULL,
    tries        INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    last_status  INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX deliveries_due ON deliveries (state, next_at);
CREATE INDEX deliveries_by_job ON deliveries (job_id);
