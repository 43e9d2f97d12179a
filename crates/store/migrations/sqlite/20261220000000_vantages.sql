-- Vantages: the places probes come from besides the service's own replicas,
-- each with its agents' token, of which only the SHA-256 of the secret half is
-- kept. name_key is the name in lower case: names are unique ignoring case.
-- Times are unix nanoseconds (UTC).
CREATE TABLE proxyhealth_vantages (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    token_hashed_secret BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    token_minted_at INTEGER NOT NULL
) STRICT;
