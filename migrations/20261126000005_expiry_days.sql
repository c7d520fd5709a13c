-- Certificates in use (and those with error findings) per UTC expiry day, kept by inventory
-- ingest: the dashboard's counts and 90-day timeline add up a few hundred day rows instead of
-- walking 100,000 certificates.
CREATE TABLE expiry_days (
    day    INTEGER PRIMARY KEY,   -- not_after / 86400
    in_use INTEGER NOT NULL DEFAULT 0,
    broken INTEGER NOT NULL DEFAULT 0
);
INSERT INTO expiry_days (day, in_use, broken)
SELECT not_after / 86400, COUNT(*), SUM(error_count > 0)
FROM certificates
WHERE endpoint_count > 0
GROUP BY 1;
