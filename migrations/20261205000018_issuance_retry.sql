-- When a failed renewal may be tried again (Unix seconds): the CA's own time when it limited
-- the requests, else `retry_after_secs` after the failure. NULL for rows from before.
ALTER TABLE issuances ADD COLUMN retry_at INTEGER;
