-- Dashboard scale (100,000 certificates): keep certificate rows small and their usage at hand.

-- 1. The DER moves to its own table: scans of `certificates` no longer drag the blobs along.
CREATE TABLE certificate_ders (
    sha256 TEXT PRIMARY KEY REFERENCES certificates (sha256),
    der    BLOB NOT NULL
);
INSERT INTO certificate_ders (sha256, der) SELECT sha256, der FROM certificates;
ALTER TABLE certificates DROP COLUMN der;

-- 2. How many endpoints use each certificate and how many error / warning findings they
--    carry, kept up to date by inventory ingest, so counts and lists read one row per
--    certificate instead of joining endpoints and findings for each of them.
ALTER TABLE certificates ADD COLUMN endpoint_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE certificates ADD COLUMN error_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE certificates ADD COLUMN warning_count INTEGER NOT NULL DEFAULT 0;
UPDATE certificates SET
    endpoint_count = (SELECT COUNT(*) FROM endpoints e
                      WHERE e.configured_sha256 = certificates.sha256
                         OR e.served_sha256 = certificates.sha256),
    error_count = (SELECT COUNT(*) FROM endpoints e JOIN findings f ON f.endpoint_id = e.id
                   WHERE (e.configured_sha256 = certificates.sha256
                          OR e.served_sha256 = certificates.sha256)
                     AND f.severity = 'error'),
    warning_count = (SELECT COUNT(*) FROM endpoints e JOIN findings f ON f.endpoint_id = e.id
                     WHERE (e.configured_sha256 = certificates.sha256
                            OR e.served_sha256 = certificates.sha256)
                       AND f.severity = 'warning');

-- 3. Indexes for what the dashboard asks: the summary reads only this one (covering), the
--    lists walk the certificates in use by expiry or by subject.
CREATE INDEX certificates_usage ON certificates (endpoint_count, not_after, error_count);
CREATE INDEX certificates_in_use ON certificates (not_after, sha256) WHERE endpoint_count > 0;
CREATE INDEX certificates_in_use_subject ON certificates (subject, sha256) WHERE endpoint_count > 0;
