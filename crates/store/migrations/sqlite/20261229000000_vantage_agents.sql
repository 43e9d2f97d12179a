-- The agents of each vantage as the service last saw them, so a restarted
-- service lists them at once (PostgreSQL's table of the same name is shared
-- by the replicas). A row is replaced by a sighting seen no earlier
-- (last_seen), its lag and last batch by a newer batch (last_result_at).
-- agent_id is the agent's own id (at most 64 bytes); address is its IP
-- address as text. Times are unix nanoseconds (UTC). A vantage keeps at most
-- 64 agents (the longest unseen go) and its agents go with it.
CREATE TABLE proxyhealth_vantage_agents (
    vantage_id TEXT NOT NULL REFERENCES proxyhealth_vantages (id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL,
    version TEXT NOT NULL,
    address TEXT,
    last_seen INTEGER NOT NULL,
    assigned INTEGER NOT NULL,
    lag_ms INTEGER,
    last_result_at INTEGER,
    PRIMARY KEY (vantage_id, agent_id)
) STRICT;
