-- Dashboard sign-in: the logins under way (between the redirect to the
-- identity provider and its callback) and the sessions they open. Only the
-- SHA-256 of the state parameter and of the session id are kept. Times are
-- unix nanoseconds (UTC); rows past expires_at are never read and are pruned.
CREATE TABLE proxyhealth_logins (
    state_hash BLOB PRIMARY KEY NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    return_to TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX proxyhealth_logins_expires_at ON proxyhealth_logins (expires_at);
CREATE TABLE proxyhealth_sessions (
    id_hash BLOB PRIMARY KEY NOT NULL,
    subject TEXT NOT NULL,
    email TEXT,
    name TEXT,
    role TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX proxyhealth_sessions_expires_at ON proxyhealth_sessions (expires_at);
