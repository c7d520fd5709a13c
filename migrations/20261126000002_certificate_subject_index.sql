-- The certificates list can be sorted by subject; keyset pages walk this index.
CREATE INDEX certificates_subject ON certificates (subject, sha256);
