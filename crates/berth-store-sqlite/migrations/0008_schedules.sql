-- Version 8: schedules. A schedule's config is JSON text; its cursor (`next_due_at`, the
-- first due time not handled yet) moves by compare-and-set. The jobs it makes carry
-- (schedule_id, scheduled_at), unique: each due time makes at most one job on any number of
-- nodes. `scheduler_beats` says when each node's scheduler was last alive (outages).
CREATE TABLE schedules (
    id             TEXT PRIMARY KEY,
    tenant         TEXT NOT NULL,
    name           TEXT NOT NULL,
    config         TEXT NOT NULL,
    paused         TEXT,
    next_due_at    INTEGER,
    waiting_due_at INTEGER,
    resumed_at     INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE UNIQUE INDEX schedules_by_name ON schedules (tenant, name);
CREATE INDEX schedules_by_due ON schedules (next_due_at);
CREATE TABLE scheduler_beats (
    node    TEXT PRIMARY KEY,
    beat_at INTEGER NOT NULL
);
ALTER TABLE jobs ADD COLUMN schedule_id TEXT;
ALTER TABLE jobs ADD COLUMN scheduled_at INTEGER;
CREATE UNIQUE INDEX jobs_by_schedule ON jobs (schedule_id, scheduled_at) WHERE schedule_id IS NOT NULL;
