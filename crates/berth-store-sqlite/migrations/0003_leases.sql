-- Version 3: many workers. Leases with fencing tokens, due times and priorities, routing by
-- worker tags, concurrency keys, the worker registry and per-queue limits.
ALTER TABLE jobs ADD COLUMN run_at INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET run_at = created_at;
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
-- Grows with every claim; a write fenced with an older token changes nothing.
ALTER TABLE jobs ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN lease_expires_at INTEGER;
ALTER TABLE jobs ADD COLUMN concurrency_key TEXT;
ALTER TABLE jobs ADD COLUMN concurrency_limit INTEGER;
-- Worker tags the job needs, as a JSON object of strings.
ALTER TABLE jobs ADD COLUMN requires TEXT NOT NULL DEFAULT '{}';
CREATE INDEX jobs_claim ON jobs (status, queue, priority DESC, run_at, created_at, id);
CREATE INDEX jobs_by_lease ON jobs (lease_expires_at) WHERE lease_expires_at IS NOT NULL;
CREATE INDEX jobs_by_key ON jobs (tenant, concurrency_key, status) WHERE concurrency_key IS NOT NULL;
CREATE INDEX jobs_by_queue ON jobs (queue, status);
CREATE INDEX jobs_by_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    version      TEXT NOT NULL,
    slots        INTEGER NOT NULL,
    queues       TEXT NOT NULL,
    tags         TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    state        TEXT NOT NULL,
    running      INTEGER NOT NULL,
    breaker      TEXT NOT NULL
);

CREATE TABLE queue_limits (
    name        TEXT PRIMARY KEY,
    max_running INTEGER NOT NULL
);
