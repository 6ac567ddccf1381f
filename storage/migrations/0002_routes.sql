-- Routes: which site (or redirect, or proxy) answers for a host name.
-- Times are nanoseconds since the Unix epoch.

CREATE TABLE routes (
	host    TEXT PRIMARY KEY,        -- lower-case DNS name
	target  TEXT NOT NULL,           -- "SITE", "redirect URL" or "proxy URL"
	created INTEGER NOT NULL DEFAULT 0,
	updated INTEGER NOT NULL DEFAULT 0
);
