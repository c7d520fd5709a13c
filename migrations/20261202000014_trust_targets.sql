-- A rollout target is a server endpoint the renewal is deployed to, or a client machine
-- that must first trust the renewal (its self-signed certificate or issuing CA, whose
-- SHA-256 is `trust_sha256`) for the server endpoint `endpoint_key` names (`host:port`).
ALTER TABLE rollout_targets ADD COLUMN action TEXT NOT NULL DEFAULT 'deploy'
    CHECK (action IN ('deploy', 'trust', 'untrust'));
ALTER TABLE rollout_targets ADD COLUMN trust_sha256 TEXT;

-- The root an upload came with (PEM; empty when none): not deployed to servers, but the
-- anchor a client machine is made to trust before a server switches to the renewal.
ALTER TABLE renewals ADD COLUMN root_pem TEXT NOT NULL DEFAULT '';

-- Set when the target's connector still listened on http (its first https): once verified,
-- the server's host page lists the step that stays manual on the BPA Platform side.
ALTER TABLE rollout_targets ADD COLUMN first_https INTEGER NOT NULL DEFAULT 0;

-- For a trust target: the certificate the client trusted the server by before (its old
-- anchor), which a later cleanup rollout may take out again if certfleet had put it there.
ALTER TABLE rollout_targets ADD COLUMN replaces_sha256 TEXT;
