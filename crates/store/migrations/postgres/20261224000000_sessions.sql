-- Dashboard sign-in: the logins under way (between the redirect to the
-- identity provider and its callback) and the sessions they open, shared by
-- every replica. Only the SHA-256 of the state parameter and of the session
-- id are kept; rows past expires_at are never read and are pruned.
CREATE TABLE proxyhealth_logins (
    state_hash bytea PRIMARY KEY,
    nonce text NOT NULL,
    pkce_verifier text NOT NULL,
    return_to text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX proxyhealth_logins_expires_at ON proxyhealth_logins (expires_at);
CREATE TABLE proxyhealth_sessions (
    id_hash bytea PRIMARY KEY,
    subject text NOT NULL,
    email text,
    name text,
    role text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX proxyhealth_sessions_expires_at ON proxyhealth_sessions (expires_at);
