-- Version 0011: where an attempt's log recorder is in the unit's output (bytes consumed per
-- stream, what it holds back, the log cap's state), stored with each batch of its output so
-- a reattached worker reads on byte-exact.
ALTER TABLE attempts ADD COLUMN output_cursor TEXT;
