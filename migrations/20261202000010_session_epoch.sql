-- Sessions are signed tokens; each carries its user's epoch at issue. Logging out,
-- changing the password or disabling the user moves the epoch on, which ends every
-- session issued before at once.
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
