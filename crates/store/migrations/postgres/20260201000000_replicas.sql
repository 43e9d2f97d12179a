-- Several replicas on one PostgreSQL (issue 13): membership, shared probing
-- with fenced leases, the shared view of results, and per-replica observations.
-- Every time here is written with the database's clock (now()), never a
-- replica's, so no two machines' clocks are ever compared.

-- One row per `serve` on this database. A replica is live while its heartbeat
-- is fresh and it has not stopped; dead and stopped rows are pruned later.
CREATE TABLE proxyhealth_replicas (
    id uuid NOT NULL,
    hostname text NOT NULL,
    version text NOT NULL,
    listen_addr text NOT NULL,
    pid bigint NOT NULL,
    started_at timestamp with time zone NOT NULL DEFAULT now(),
    heartbeat_at timestamp with time zone NOT NULL DEFAULT now(),
    stopped_at timestamp with time zone,
    -- the newest result generation this replica reports serving
    view_generation bigint NOT NULL DEFAULT 0,
    CONSTRAINT proxyhealth_replicas_pkey PRIMARY KEY (id)
);

-- The cluster's view generation: one row, bumped by every result write while
-- holding its row lock until commit, so results commit in generation order and
-- a reader that has seen generation G has seen every result up to G (a
-- sequence hands out numbers before commit and would let a reader skip one).
CREATE TABLE proxyhealth_view (
    id integer NOT NULL CHECK (id = 1),
    generation bigint NOT NULL,
    CONSTRAINT proxyhealth_view_pkey PRIMARY KEY (id)
);
INSERT INTO proxyhealth_view (id, generation) VALUES (1, 0);

-- One row per proxy: when it is due, who holds its lease, and its newest result.
CREATE TABLE proxyhealth_checks (
    proxy_id uuid NOT NULL REFERENCES workspace_proxies (id) ON DELETE CASCADE,
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    -- claimable when due_at <= now() and no live lease; a claim moves due_at to
    -- the lease's end, so an abandoned lease makes the row due by itself
    due_at timestamp with time zone NOT NULL DEFAULT now(),
    lease_owner uuid,
    lease_until timestamp with time zone,
    -- bumped by every claim; a result write must name the owner and attempt
    attempt bigint NOT NULL DEFAULT 0,
    -- re-check requests, and how many a claim has seen: a request made while
    -- a check is in flight makes the row due again right after its write
    requests bigint NOT NULL DEFAULT 0,
    claimed_requests bigint NOT NULL DEFAULT 0,
    -- a failing observation awaiting a second opinion: not claimable by this
    -- replica until confirm_until
    confirm_for uuid,
    confirm_until timestamp with time zone,
    -- the newest accepted result
    status text,
    result jsonb,
    checked_at timestamp with time zone,
    checked_by uuid,
    generation bigint NOT NULL DEFAULT 0,
    CONSTRAINT proxyhealth_checks_pkey PRIMARY KEY (proxy_id)
);
CREATE INDEX proxyhealth_checks_due_idx ON proxyhealth_checks (due_at);
CREATE INDEX proxyhealth_checks_generation_idx ON proxyhealth_checks (generation);

-- What each replica last saw of each proxy, for the second opinion and the
-- disagreement report. Old rows are pruned.
CREATE TABLE proxyhealth_observations (
    proxy_id uuid NOT NULL REFERENCES workspace_proxies (id) ON DELETE CASCADE,
    replica_id uuid NOT NULL,
    status text NOT NULL,
    message text NOT NULL,
    observed_at timestamp with time zone NOT NULL DEFAULT now(),
    CONSTRAINT proxyhealth_observations_pkey PRIMARY KEY (proxy_id, replica_id)
);
CREATE INDEX proxyhealth_observations_observed_idx ON proxyhealth_observations (observed_at);

-- Cluster-wide chores run by one replica per period, whichever asks first:
-- `UPDATE … SET last_run = now() WHERE last_run <= now() - period RETURNING`
-- (on the database clock, no advisory lock, nothing held across the chore).
CREATE TABLE proxyhealth_jobs (
    name text NOT NULL,
    last_run timestamp with time zone NOT NULL DEFAULT '-infinity',
    CONSTRAINT proxyhealth_jobs_pkey PRIMARY KEY (name)
);
INSERT INTO proxyhealth_jobs (name) VALUES ('ensure_checks'), ('prune');
