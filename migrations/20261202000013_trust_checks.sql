-- What each client machine's TLS stack makes of the servers it must trust, as its newest
-- inventory reports it (replaced with each changed inventory). `since` is when the verdict
-- was first reported, kept while it stays the same.
CREATE TABLE trust_checks (
    host_id     INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    endpoint    TEXT    NOT NULL,
    server_name TEXT    NOT NULL,
    port        INTEGER NOT NULL,
    origin      TEXT    NOT NULL,
    verdict     TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    chain_json  TEXT    NOT NULL DEFAULT '[]',
    store       TEXT    NOT NULL,
    revocation  TEXT    NOT NULL,
    since       INTEGER NOT NULL,
    PRIMARY KEY (host_id, endpoint, server_name)
);

-- A server endpoint finds the clients that must trust it by the name and port they use.
CREATE INDEX trust_checks_by_name ON trust_checks (server_name, port);
