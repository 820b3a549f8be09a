-- Version 0012: `events` without a foreign key to `jobs` (issue 16).
-- Every event is written holding its job (the status update's row lock, or a read of the job
-- in the same transaction), so the job exists; the foreign key's per-row check (a trigger
-- and a row lock on `jobs` for each event) cost about 6 % of the queue's throughput. Deleting
-- a job deletes its events by hand in the same transaction (`DELETE_EVENTS_OF_JOB`, and
-- `prune_finished`), and no event of a deleted job can be written after: its writer finds
-- no job.
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_job_id_fkey;
