-- Version 4: when a queued job times out (the earlier of its queue and total timeouts), so
-- the janitor asks for due ones instead of reading the whole queue every second.
ALTER TABLE jobs ADD COLUMN queue_deadline INTEGER;
CREATE INDEX jobs_by_queue_deadline ON jobs (queue_deadline) WHERE status = 'queued' AND queue_deadline IS NOT NULL;
