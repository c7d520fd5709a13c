-- An agent may connect with its newest certificate or the one before it (the overlap of a
-- renewal); anything older is refused.
ALTER TABLE agents ADD COLUMN previous_cert_serial TEXT;
