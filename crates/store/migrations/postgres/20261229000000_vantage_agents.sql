-- The agents of each vantage as the replicas last saw them, so every replica
-- lists the same agents whichever replica they reach (and shares a vantage's
-- proxies among all of them). Each replica writes the agents it saw lately
-- and reads everyone's; a row is replaced by a sighting seen no earlier
-- (last_seen, the writer's clock), its lag and last batch by a newer batch
-- (last_result_at). agent_id is the agent's own id (at most 64 bytes);
-- address is its IP address as text. A vantage keeps at most 64 agents (the
-- longest unseen go) and its agents go with it.
CREATE TABLE proxyhealth_vantage_agents (
    vantage_id uuid NOT NULL REFERENCES proxyhealth_vantages (id) ON DELETE CASCADE,
    agent_id text NOT NULL,
    version text NOT NULL,
    address text,
    last_seen timestamp with time zone NOT NULL,
    assigned bigint NOT NULL,
    lag_ms bigint,
    last_result_at timestamp with time zone,
    CONSTRAINT proxyhealth_vantage_agents_pkey PRIMARY KEY (vantage_id, agent_id)
);
