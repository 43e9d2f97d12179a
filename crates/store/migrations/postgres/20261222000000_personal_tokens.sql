-- Personal tokens: the tokens people act with, each with a name and a role
-- (viewer, operator, admin). Only the SHA-256 of the secret half is kept.
-- A token is revoked (revoked_at), never deleted. Names are unique ignoring
-- case.
CREATE TABLE proxyhealth_personal_tokens (
    name text NOT NULL,
    role text NOT NULL,
    hashed_secret bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE UNIQUE INDEX proxyhealth_personal_tokens_name_key
    ON proxyhealth_personal_tokens (lower(name));
