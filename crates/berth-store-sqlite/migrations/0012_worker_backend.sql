-- Version 0012: which backend each worker runs attempts on (`--backend auto` shows its
-- choice in `berth workers` and `GET /v1/workers`).
ALTER TABLE workers ADD COLUMN backend TEXT NOT NULL DEFAULT '';
