-- The trigram index holds the names only. A certificate's thumbprint and SHA-256 were about
-- 60 % of its indexed text, and their trigrams the biggest single cost of storing a
-- certificate; the list matches a hash with instr() on the row it already reads (hex digits
-- only, separators dropped, crates/store/src/certs.rs).
DROP TRIGGER certificates_search_insert;
DROP TABLE certificate_search;

CREATE VIRTUAL TABLE certificate_search USING fts5(text, tokenize = 'trigram', content = '');

INSERT INTO certificate_search (rowid, text)
SELECT rowid, subject || ' ' || dns_names_json
FROM certificates;

CREATE TRIGGER certificates_search_insert AFTER INSERT ON certificates BEGIN
    INSERT INTO certificate_search (rowid, text)
    VALUES (new.rowid, new.subject || ' ' || new.dns_names_json);
END;
