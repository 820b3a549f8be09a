-- Version 5: when each tenant's named volume was last mounted, so retention can remove the
-- ones no job has used for longer than it.
CREATE TABLE volume_use (
    tenant       TEXT NOT NULL,
    name         TEXT NOT NULL,
    last_used_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, name)
);
