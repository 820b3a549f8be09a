-- Version 0013: a job's labels in a table of their own, so a label filter walks an index
-- newest first instead of reading every job's spec (issue 16: a label no job has took
-- 687 ms at a million jobs). Labels never change after submit; rows go with their job.
CREATE TABLE job_labels (
    job_id         TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    key            TEXT NOT NULL,
    value          TEXT NOT NULL,
    job_created_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, key)
) WITHOUT ROWID;
CREATE INDEX job_labels_by_value ON job_labels (key, value, job_created_at DESC, job_id DESC);
CREATE INDEX job_labels_by_key ON job_labels (key, job_created_at DESC, job_id DESC);
INSERT INTO job_labels (job_id, key, value, job_created_at)
SELECT j.id, l.key, l.value, j.created_at FROM jobs j, json_each(j.spec, '$.labels') l;
