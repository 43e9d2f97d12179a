-- Persisted history (issue 15): every status transition and an hourly rollup
-- of each proxy's checks. Neither references workspace_proxies: history
-- outlives a proxy's edits, and rows are pruned by age (default 90 days).
-- With several replicas, a transition is written by the replica whose result
-- caused it, in the same transaction as that result's fenced write.

-- One row per change of a proxy's shown status. from_status is NULL for a
-- proxy's first recorded status; report is the {errors, warnings} of the
-- check that caused it; previous_ms is how long the previous status lasted.
CREATE TABLE proxyhealth_transitions (
    id bigserial NOT NULL,
    proxy_id uuid NOT NULL,
    proxy_name text NOT NULL,
    proxy_url text NOT NULL,
    at timestamp with time zone NOT NULL,
    from_status text,
    to_status text NOT NULL,
    report jsonb NOT NULL,
    replica_id uuid,
    previous_ms bigint,
    CONSTRAINT proxyhealth_transitions_pkey PRIMARY KEY (id)
);
CREATE INDEX proxyhealth_transitions_proxy_at_idx ON proxyhealth_transitions (proxy_id, at);
CREATE INDEX proxyhealth_transitions_at_idx ON proxyhealth_transitions (at);

-- One row per proxy, hour and writer (a random number per process: each adds up its own
-- checks in memory and writes its whole row, so no row is read before it is
-- written and replicas never write each other's rows; readers add the
-- writers' rows up). sketch is the latency histogram (proxyhealth_core::rollup).
CREATE TABLE proxyhealth_rollups (
    proxy_id uuid NOT NULL,
    hour timestamp with time zone NOT NULL,
    writer bigint NOT NULL,
    checks integer NOT NULL,
    ok integer NOT NULL,
    unhealthy integer NOT NULL,
    unreachable integer NOT NULL,
    unregistered integer NOT NULL,
    latency_max_us bigint,
    sketch bytea NOT NULL,
    CONSTRAINT proxyhealth_rollups_pkey PRIMARY KEY (proxy_id, hour, writer)
);
CREATE INDEX proxyhealth_rollups_hour_idx ON proxyhealth_rollups (hour);
