-- Renewed certificates uploaded by admins, ready to roll out. The chain is public; the
-- private key (PKCS#8 DER) is sealed under the console's key-encryption key and leaves the
-- console only inside a deploy job to an authenticated agent.
CREATE TABLE renewals (
    id                INTEGER PRIMARY KEY,
    sha256            TEXT    NOT NULL UNIQUE,     -- the leaf's
    thumbprint        TEXT    NOT NULL,
    subject           TEXT    NOT NULL,
    issuer            TEXT    NOT NULL,
    dns_names_json    TEXT    NOT NULL,
    ip_addresses_json TEXT    NOT NULL,
    not_before        INTEGER NOT NULL,
    not_after         INTEGER NOT NULL,
    key_algorithm     TEXT    NOT NULL,
    chain_pem         TEXT    NOT NULL,            -- leaf first, then its issuers
    sealed_key        TEXT    NOT NULL,
    warnings_json     TEXT    NOT NULL DEFAULT '[]',
    uploaded_by       TEXT    NOT NULL,
    uploaded_at       INTEGER NOT NULL
);
