-- certfleet's first schema. Times are Unix seconds (INTEGER) so range filters and sorting
-- stay cheap; SHA-256 fingerprints are uppercase hex.

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY,
    username             TEXT    NOT NULL UNIQUE,
    password_hash        TEXT    NOT NULL,
    role                 TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    must_change_password INTEGER NOT NULL DEFAULT 0,
    disabled             INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL
);

-- Single-use enrolment tokens; only a hash of the secret is kept.
CREATE TABLE enrollment_tokens (
    id            TEXT    PRIMARY KEY,
    secret_sha256 TEXT    NOT NULL,
    host_hint     TEXT,
    created_by    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER,
    used_by_agent TEXT
);

CREATE TABLE agents (
    id              TEXT    PRIMARY KEY,          -- UUID, also in the client certificate SAN
    enrolled_at     INTEGER NOT NULL,
    token_id        TEXT    NOT NULL REFERENCES enrollment_tokens (id),
    cert_serial     TEXT    NOT NULL,
    cert_not_after  INTEGER NOT NULL,
    last_seen_at    INTEGER,
    revoked_at      INTEGER,
    agent_version   TEXT,
    inventory_hash  TEXT
);

CREATE TABLE hosts (
    id           INTEGER PRIMARY KEY,
    agent_id     TEXT    NOT NULL UNIQUE REFERENCES agents (id),
    hostname     TEXT    NOT NULL,
    fqdn         TEXT    NOT NULL,
    os           TEXT    NOT NULL,
    arch         TEXT    NOT NULL,
    groups_json  TEXT    NOT NULL DEFAULT '[]',
    updated_at   INTEGER NOT NULL
);

-- Certificates seen anywhere, once each.
CREATE TABLE certificates (
    sha256              TEXT    PRIMARY KEY,
    thumbprint          TEXT    NOT NULL,
    subject             TEXT    NOT NULL,
    issuer              TEXT    NOT NULL,
    serial              TEXT    NOT NULL,
    dns_names_json      TEXT    NOT NULL,
    ip_addresses_json   TEXT    NOT NULL,
    not_before          INTEGER NOT NULL,
    not_after           INTEGER NOT NULL,
    key_algorithm       TEXT    NOT NULL,
    key_bits            INTEGER NOT NULL,
    signature_algorithm TEXT    NOT NULL,
    self_signed         INTEGER NOT NULL,
    der                 BLOB    NOT NULL,
    first_seen_at       INTEGER NOT NULL
);
CREATE INDEX certificates_not_after ON certificates (not_after, sha256);
CREATE INDEX certificates_thumbprint ON certificates (thumbprint);

-- Where certificates are used, and what the live port really serves.
CREATE TABLE endpoints (
    id                INTEGER PRIMARY KEY,
    host_id           INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    key               TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    address           TEXT,
    config_path       TEXT,
    configured_sha256 TEXT    REFERENCES certificates (sha256),
    served_sha256     TEXT    REFERENCES certificates (sha256),
    errors_json       TEXT    NOT NULL DEFAULT '[]',
    content_sha256    TEXT    NOT NULL,           -- skip rewrites of unchanged endpoints
    updated_at        INTEGER NOT NULL,
    UNIQUE (host_id, key)
);
CREATE INDEX endpoints_configured ON endpoints (configured_sha256);
CREATE INDEX endpoints_served ON endpoints (served_sha256);

CREATE TABLE findings (
    id          INTEGER PRIMARY KEY,
    endpoint_id INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    code        TEXT    NOT NULL,
    severity    TEXT    NOT NULL CHECK (severity IN ('error', 'warning', 'info')),
    message     TEXT    NOT NULL,
    certificate TEXT
);
CREATE INDEX findings_endpoint ON findings (endpoint_id);

-- Every admin action and every security-relevant event.
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    target TEXT,
    detail TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
