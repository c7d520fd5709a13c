-- What agents say is a claim. The first host seen serving a DNS name owns it; another host
-- that later claims an endpoint with one of those names is not sent a renewal's key until
-- an operator accepts that endpoint (the acceptance is kept, and audited).
CREATE TABLE name_owners (
    name    TEXT    PRIMARY KEY,          -- lowercase
    host_id INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    since   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE endpoint_acceptances (
    host_id      INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    endpoint_key TEXT    NOT NULL,
    accepted_by  TEXT    NOT NULL,
    accepted_at  INTEGER NOT NULL,
    PRIMARY KEY (host_id, endpoint_key)
) WITHOUT ROWID;

-- The endpoints already stored claimed their names in the order they were first stored.
INSERT OR IGNORE INTO name_owners (name, host_id, since)
SELECT name, host_id, since FROM (
    SELECT lower(j.value) AS name, e.host_id, e.updated_at AS since, e.id AS seq
    FROM endpoints e
    JOIN certificates c ON c.sha256 = e.configured_sha256 OR c.sha256 = e.served_sha256
    JOIN json_each(c.dns_names_json) j
    UNION ALL
    SELECT lower(e.name), e.host_id, e.updated_at, e.id
    FROM endpoints e
    WHERE instr(e.name, '.') > 0 AND e.name NOT GLOB '*[^A-Za-z0-9.*-]*'
)
ORDER BY seq;

-- Certificates nothing uses any more are removed after a while; this says since when.
ALTER TABLE certificates ADD COLUMN unused_since INTEGER;
UPDATE certificates SET unused_since = CAST(strftime('%s', 'now') AS INTEGER)
WHERE endpoint_count = 0;

-- The search index is contentless: a removed certificate is removed from it with its text.
CREATE TRIGGER certificates_search_delete AFTER DELETE ON certificates BEGIN
    INSERT INTO certificate_search (certificate_search, rowid, text)
    VALUES ('delete', old.rowid, old.subject || ' ' || old.dns_names_json || ' ' || old.thumbprint || ' ' || old.sha256);
END;
