-- Expiry and health alerts by email.

-- Every alert that was raised, once: (certificate, endpoint, threshold), an offline episode,
-- an error finding. Its email or digest entry is written in the same transaction.
CREATE TABLE alert_keys (
    key        TEXT    PRIMARY KEY,
    created_at INTEGER NOT NULL
);

-- Emails waiting to be sent, or sent. The idempotency key is also the Message-ID, so a
-- restart neither loses nor repeats one.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT    NOT NULL UNIQUE,
    recipients_json TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    text_body       TEXT    NOT NULL,
    html_body       TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    sent_at         INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL;

-- Threshold crossings waiting for the daily digest.
CREATE TABLE digest_items (
    id          INTEGER PRIMARY KEY,
    alert_key   TEXT    NOT NULL UNIQUE REFERENCES alert_keys (key),
    host_id     INTEGER NOT NULL,
    sha256      TEXT    NOT NULL,
    endpoint    TEXT    NOT NULL,
    threshold   INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    digested_at INTEGER
);
CREATE INDEX digest_items_pending ON digest_items (created_at) WHERE digested_at IS NULL;

-- Settings edited on the admin pages (JSON), over the configuration file's values.
CREATE TABLE settings (
    name       TEXT    PRIMARY KEY,
    value_json TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
