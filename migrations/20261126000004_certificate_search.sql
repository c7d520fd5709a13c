-- Substring search over 100,000 certificates without a full scan: a trigram full-text
-- index of the text the certificates table is searched by. Certificates are never changed
-- or deleted once stored, so an insert trigger keeps it complete.
CREATE VIRTUAL TABLE certificate_search USING fts5(text, tokenize = 'trigram', content = '');

INSERT INTO certificate_search (rowid, text)
SELECT rowid, subject || ' ' || dns_names_json || ' ' || thumbprint || ' ' || sha256
FROM certificates;

CREATE TRIGGER certificates_search_insert AFTER INSERT ON certificates BEGIN
    INSERT INTO certificate_search (rowid, text)
    VALUES (new.rowid, new.subject || ' ' || new.dns_names_json || ' ' || new.thumbprint || ' ' || new.sha256);
END;

-- Certificates with error findings, counted by the dashboard's summary.
CREATE INDEX certificates_broken ON certificates (not_after) WHERE endpoint_count > 0 AND error_count > 0;
