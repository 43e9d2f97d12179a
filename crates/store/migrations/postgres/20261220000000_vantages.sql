-- Vantages: the places probes come from besides the service's own replicas,
-- each with its agents' token, of which only the SHA-256 of the secret half is
-- kept. Names are unique ignoring case. Times are the database's clock.
CREATE TABLE proxyhealth_vantages (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    token_hashed_secret bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    token_minted_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX proxyhealth_vantages_name_key ON proxyhealth_vantages (lower(name));
