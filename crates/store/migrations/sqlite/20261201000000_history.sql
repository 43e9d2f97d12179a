-- Persisted history (issue 15): every status transition and an hourly rollup
-- of each proxy's checks. Neither references workspace_proxies: history
-- outlives a proxy's edits, and rows are pruned by age (default 90 days).

-- One row per change of a proxy's shown status. at is unix nanoseconds (UTC);
-- from_status is NULL for a proxy's first recorded status; report is the
-- {errors, warnings} JSON of the check that caused it; previous_ms is how
-- long the previous status lasted.
CREATE TABLE proxyhealth_transitions (
    id INTEGER PRIMARY KEY,
    proxy_id TEXT NOT NULL,
    proxy_name TEXT NOT NULL,
    proxy_url TEXT NOT NULL,
    at INTEGER NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    report TEXT NOT NULL,
    replica_id TEXT,
    previous_ms INTEGER
) STRICT;
-- One proxy's transitions in a window, and its last one (the status at a
-- window's start, the `from` of the next).
CREATE INDEX proxyhealth_transitions_proxy_at_idx ON proxyhealth_transitions (proxy_id, at);
-- Incidents across the fleet since a time, and pruning.
CREATE INDEX proxyhealth_transitions_at_idx ON proxyhealth_transitions (at);

-- One row per proxy, hour (unix seconds of its start, UTC) and writer (a
-- random number per process: each process adds up its own checks in memory
-- and writes its whole row, so no row is read before it is written and
-- replicas never write each other's rows; readers add the writers' rows up).
-- The proxy id is its 16 bytes (the table is the one that grows: 24 rows a
-- day per proxy). sketch is the latency histogram (proxyhealth_core::rollup),
-- latency_max_us the maximum.
CREATE TABLE proxyhealth_rollups (
    proxy_id BLOB NOT NULL,
    hour INTEGER NOT NULL,
    writer INTEGER NOT NULL,
    checks INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    unhealthy INTEGER NOT NULL,
    unreachable INTEGER NOT NULL,
    unregistered INTEGER NOT NULL,
    latency_max_us INTEGER,
    sketch BLOB NOT NULL,
    PRIMARY KEY (proxy_id, hour, writer)
) STRICT, WITHOUT ROWID;
-- Uptime of every proxy since an hour (the proxy list), and pruning.
CREATE INDEX proxyhealth_rollups_hour_idx ON proxyhealth_rollups (hour);
