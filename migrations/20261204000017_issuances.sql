-- Renewals the console obtains itself: from its own issuing CA (later also ACME), for a key
-- the host made and kept. Such a renewal holds no key: `key_agent_id` is the agent that
-- keeps it and `pending_key` the id under which it keeps it; it can go to that host only.
ALTER TABLE renewals ADD COLUMN source TEXT NOT NULL DEFAULT 'upload'
    CHECK (source IN ('upload', 'internal_ca', 'acme'));
ALTER TABLE renewals ADD COLUMN key_agent_id TEXT;
ALTER TABLE renewals ADD COLUMN pending_key TEXT;

-- One renewal of one endpoint obtained by the console, from "due" to verified: its key
-- request to the host, the certificate issued for it, the rollout that deploys it. At most
-- one is active per endpoint, so a renewal never starts twice.
CREATE TABLE issuances (
    id            INTEGER PRIMARY KEY,
    host_id       INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    endpoint_key  TEXT    NOT NULL,
    source        TEXT    NOT NULL CHECK (source IN ('internal_ca', 'acme')),
    state         TEXT    NOT NULL CHECK (state IN ('requested', 'issued', 'rolling_out',
                      'verified', 'failed')),
    key_type      TEXT    NOT NULL,
    names_json    TEXT    NOT NULL,
    -- The key request's job id: also the name the host keeps the pending key under.
    request_id    TEXT    NOT NULL UNIQUE,
    old_sha256    TEXT    NOT NULL,
    renewal_id    INTEGER REFERENCES renewals (id),
    rollout_id    INTEGER REFERENCES rollouts (id),
    started_by    TEXT    NOT NULL,          -- 'scheduler', or the user who asked
    detail        TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX issuances_one_active ON issuances (host_id, endpoint_key)
    WHERE state IN ('requested', 'issued', 'rolling_out');
CREATE INDEX issuances_recent ON issuances (host_id, endpoint_key, updated_at);
