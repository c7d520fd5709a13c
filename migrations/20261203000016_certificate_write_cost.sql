-- What storing a certificate costs. Each index of the certificates table is keyed by a hash,
-- a name or a date, so each insert lands on a random page of every one of them, and a round
-- of a thousand certificates rewrote most of each index at its commit (the commit was 37 %
-- of the ingest writer's time in a storm of 10,000 agents, BENCHMARKS.md). Only the indexes
-- a query uses are kept.

-- The list, the summary and the alerts read certificates in use, through
-- certificates_in_use and certificates_in_use_subject; no query reads these three.
DROP INDEX certificates_not_after;
DROP INDEX certificates_thumbprint;
DROP INDEX certificates_subject;
-- Pruning looks for unused certificates only: a partial index holds just those, so a new
-- certificate in use is not written to it.
DROP INDEX certificates_usage;
CREATE INDEX certificates_unused ON certificates (unused_since) WHERE endpoint_count = 0;

-- The trigram index holds the names only. A certificate's thumbprint and SHA-256 were about
-- 60 % of its indexed text; the list matches a hash with instr() on the row it reads anyway
-- (hex digits only, separators dropped, crates/store/src/certs.rs). The index is
-- contentless, so the delete trigger must give exactly the text the insert gave.
DROP TRIGGER certificates_search_insert;
DROP TRIGGER certificates_search_delete;
DROP TABLE certificate_search;

CREATE VIRTUAL TABLE certificate_search USING fts5(text, tokenize = 'trigram', content = '');

INSERT INTO certificate_search (rowid, text)
SELECT rowid, subject || ' ' || dns_names_json
FROM certificates;

CREATE TRIGGER certificates_search_insert AFTER INSERT ON certificates BEGIN
    INSERT INTO certificate_search (rowid, text)
    VALUES (new.rowid, new.subject || ' ' || new.dns_names_json);
END;

CREATE TRIGGER certificates_search_delete AFTER DELETE ON certificates BEGIN
    INSERT INTO certificate_search (certificate_search, rowid, text)
    VALUES ('delete', old.rowid, old.subject || ' ' || old.dns_names_json);
END;
