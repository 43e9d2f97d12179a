-- Each vantage's newest reading of each proxy, so a restarted service loses
-- no vantage's newest result. reading is the VantageReading as JSON;
-- checked_at (unix nanoseconds, UTC) is its time, kept as a column so a write
-- replaces a row only with a reading at least as new. A vantage's readings go
-- with it (ON DELETE CASCADE: the store turns foreign keys on); a proxy's are
-- deleted with the proxy (proxies are soft-deleted, so no cascade does it).
CREATE TABLE proxyhealth_vantage_readings (
    vantage_id TEXT NOT NULL REFERENCES proxyhealth_vantages (id) ON DELETE CASCADE,
    proxy_id TEXT NOT NULL,
    checked_at INTEGER NOT NULL,
    reading TEXT NOT NULL,
    PRIMARY KEY (vantage_id, proxy_id)
) STRICT;
-- A deleted proxy's readings.
CREATE INDEX proxyhealth_vantage_readings_proxy_idx ON proxyhealth_vantage_readings (proxy_id);
