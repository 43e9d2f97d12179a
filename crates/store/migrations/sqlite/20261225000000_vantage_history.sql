-- Each vantage's own history of each proxy: its status changes (after its
-- own hysteresis) and its hourly rollups, so a regional fault can be read
-- back per place. at is unix nanoseconds (UTC), hour unix seconds of the
-- hour's start; report is the HealthReport as JSON, sketch the latency
-- sketch's stored form. Both go with their vantage (ON DELETE CASCADE) and
-- are pruned by age with the rest of the history.
CREATE TABLE proxyhealth_vantage_transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    vantage_id TEXT NOT NULL REFERENCES proxyhealth_vantages (id) ON DELETE CASCADE,
    proxy_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    report TEXT NOT NULL
) STRICT;
CREATE INDEX proxyhealth_vantage_transitions_proxy_idx
    ON proxyhealth_vantage_transitions (vantage_id, proxy_id, at);
CREATE INDEX proxyhealth_vantage_transitions_at_idx ON proxyhealth_vantage_transitions (at);

CREATE TABLE proxyhealth_vantage_rollups (
    vantage_id TEXT NOT NULL REFERENCES proxyhealth_vantages (id) ON DELETE CASCADE,
    proxy_id TEXT NOT NULL,
    hour INTEGER NOT NULL,
    checks INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    unhealthy INTEGER NOT NULL,
    unreachable INTEGER NOT NULL,
    latency_max_us INTEGER,
    sketch BLOB NOT NULL,
    PRIMARY KEY (vantage_id, proxy_id, hour)
) STRICT;
CREATE INDEX proxyhealth_vantage_rollups_hour_idx ON proxyhealth_vantage_rollups (hour);

-- Partial outages: a proxy failing from some vantages but fewer than the
-- quorum (ok overall). One row per outage: opened when it starts, its
-- vantages (a JSON array of names) grown while it lasts, ended_at set when it
-- is over; times in unix nanoseconds. Pruned with the rest of the history.
CREATE TABLE proxyhealth_partial_outages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    proxy_id TEXT NOT NULL,
    proxy_name TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    vantages TEXT NOT NULL,
    first_warning TEXT NOT NULL
) STRICT;
CREATE INDEX proxyhealth_partial_outages_open_idx ON proxyhealth_partial_outages (ended_at);
