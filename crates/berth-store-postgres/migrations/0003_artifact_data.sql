-- Version 3: artifacts keep their bytes, so any node serves them (no host path).
ALTER TABLE artifacts ADD COLUMN data BYTEA;
