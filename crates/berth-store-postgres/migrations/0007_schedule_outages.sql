-- Version 7: a version on schedules (writes of the config and the pause are
-- compare-and-set on it), and the outages: spans with no scheduler alive, recorded by the
-- beat that ended each, so that every node and every later step sees the same due times as
-- missed (those in (from_at, to_at]). A manual trigger's job has no scheduled_at: it stays
-- outside the (schedule_id, scheduled_at) key of the due times.
ALTER TABLE schedules ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
CREATE TABLE scheduler_outages (
    from_at BIGINT NOT NULL,
    to_at   BIGINT NOT NULL
);
CREATE INDEX scheduler_outages_by_end ON scheduler_outages (to_at);
