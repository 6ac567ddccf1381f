-- Remote access: the keys that sign API tokens, and the tokens minted.
-- A token is valid while its row exists and its key is the newest: rm of a
-- token deletes its row, a rotation adds a key. The token itself is never
-- stored: its claims name the row.

CREATE TABLE security_keys (
	id      INTEGER PRIMARY KEY,
	secret  BLOB NOT NULL,       -- 32 random bytes, the HMAC-SHA256 key
	created INTEGER NOT NULL     -- nanoseconds since the Unix epoch
);

CREATE TABLE security_tokens (
	id        TEXT PRIMARY KEY,  -- random, in the token's jti claim
	name      TEXT NOT NULL,
	scopes    TEXT NOT NULL,     -- space-separated: read:/fs/blog write:/
	key_id    INTEGER NOT NULL,  -- the security_keys row that signed it
	created   INTEGER NOT NULL,
	expires   INTEGER NOT NULL,
	last_used INTEGER NOT NULL DEFAULT 0
);
