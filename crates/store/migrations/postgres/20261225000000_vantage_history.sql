-- Each vantage's own history of each proxy: its status changes (after its
-- own hysteresis) and its hourly rollups, so a regional fault can be read
-- back per place. hour is unix seconds of the hour's start; report is the
-- HealthReport, sketch the latency sketch's stored form. Both go with their
-- vantage (ON DELETE CASCADE) and are pruned by age with the rest of the
-- history. Writers of one vantage's rollups are serialised by a row lock on
-- the vantage (each row is read, merged and written whole).
CREATE TABLE proxyhealth_vantage_transitions (
    id bigserial PRIMARY KEY,
    vantage_id uuid NOT NULL REFERENCES proxyhealth_vantages (id) ON DELETE CASCADE,
    proxy_id uuid NOT NULL,
    at timestamp with time zone NOT NULL,
    from_status text,
    to_status text NOT NULL,
    report jsonb NOT NULL
);
CREATE INDEX proxyhealth_vantage_transitions_proxy_idx
    ON proxyhealth_vantage_transitions (vantage_id, proxy_id, at);
CREATE INDEX proxyhealth_vantage_transitions_at_idx ON proxyhealth_vantage_transitions (at);

CREATE TABLE proxyhealth_vantage_rollups (
    vantage_id uuid NOT NULL REFERENCES proxyhealth_vantages (id) ON DELETE CASCADE,
    proxy_id uuid NOT NULL,
    hour bigint NOT NULL,
    checks bigint NOT NULL,
    ok bigint NOT NULL,
    unhealthy bigint NOT NULL,
    unreachable bigint NOT NULL,
    latency_max_us bigint,
    sketch bytea NOT NULL,
    CONSTRAINT proxyhealth_vantage_rollups_pkey PRIMARY KEY (vantage_id, proxy_id, hour)
);
CREATE INDEX proxyhealth_vantage_rollups_hour_idx ON proxyhealth_vantage_rollups (hour);

-- Partial outages: a proxy failing from some vantages but fewer than the
-- quorum (ok overall). One row per outage: opened when it starts, its
-- vantages (a JSON array of names) grown while it lasts, ended_at set when it
-- is over. Pruned with the rest of the history.
CREATE TABLE proxyhealth_partial_outages (
    id bigserial PRIMARY KEY,
    proxy_id uuid NOT NULL,
    proxy_name text NOT NULL,
    started_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone,
    vantages jsonb NOT NULL,
    first_warning text NOT NULL
);
CREATE INDEX proxyhealth_partial_outages_open_idx ON proxyhealth_partial_outages (ended_at);
