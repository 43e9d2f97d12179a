-- Personal tokens: the tokens people act with, each with a name and a role
-- (viewer, operator, admin). Only the SHA-256 of the secret half is kept.
-- A token is revoked (revoked_at), never deleted. name_key is the name in
-- lower case: names are unique ignoring case. Times are unix nanoseconds (UTC).
CREATE TABLE proxyhealth_personal_tokens (
    name TEXT NOT NULL,
    name_key TEXT PRIMARY KEY NOT NULL,
    role TEXT NOT NULL,
    hashed_secret BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    last_used_at INTEGER,
    revoked_at INTEGER
) STRICT;
