-- Version 6: a tenant's policy override (a JSON patch over the server policy) and its
-- secrets, sealed with the operator's key (nonce + ciphertext; the value is never stored);
-- a claim counter on deliveries, so one sender at a time calls each webhook; and a cancel
-- requested of a job another node runs (that node stops it and records the end); and the
-- job's stop grace, which a lease must be past its expiry by before a reaper takes it over.
ALTER TABLE tenants ADD COLUMN policy TEXT;

CREATE TABLE secrets (
    tenant     TEXT NOT NULL,
    name       TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, name)
);

ALTER TABLE deliveries ADD COLUMN claim INTEGER NOT NULL DEFAULT 0;

ALTER TABLE jobs ADD COLUMN cancel_by TEXT;
ALTER TABLE jobs ADD COLUMN stop_grace_ms BIGINT NOT NULL DEFAULT 0;
