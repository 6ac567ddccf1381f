-- Certificates, ACME accounts and their keys, kept by the certificate
-- manager (certmagic's Storage): in the database, so a backup holds them.
-- Keys are certmagic's paths ("certificates/<ca>/<host>/<host>.crt").

CREATE TABLE tls_store (
	key      TEXT PRIMARY KEY,
	value    BLOB NOT NULL,
	modified INTEGER NOT NULL DEFAULT 0 -- nanoseconds since the Unix epoch
);
