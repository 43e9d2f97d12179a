-- Each vantage's newest reading of each proxy, so a restarted service loses
-- no vantage's newest result. reading is the VantageReading; checked_at is its
-- time (to the microsecond), kept as a column so a write replaces a row only
-- with a reading at least as new. A vantage's readings go with it (ON DELETE
-- CASCADE); a proxy's are deleted with the proxy (proxies are soft-deleted, so
-- no cascade does it), and beside a Coder database, where Coder deletes its
-- proxies, by the coordination's pruning. No foreign key to workspace_proxies:
-- a reading of a proxy that is not live is never written.
CREATE TABLE proxyhealth_vantage_readings (
    vantage_id uuid NOT NULL REFERENCES proxyhealth_vantages (id) ON DELETE CASCADE,
    proxy_id uuid NOT NULL,
    checked_at timestamp with time zone NOT NULL,
    reading jsonb NOT NULL,
    CONSTRAINT proxyhealth_vantage_readings_pkey PRIMARY KEY (vantage_id, proxy_id)
);
-- A deleted proxy's readings, and pruning.
CREATE INDEX proxyhealth_vantage_readings_proxy_idx ON proxyhealth_vantage_readings (proxy_id);
