-- Each vantage's own history keyed by the vantage's name (lowercased) rather
-- than by an agents' vantage: the service's own vantage and each replica
-- vantage (`serve --vantage NAME`) keep one too, and they have no row in
-- proxyhealth_vantages. Deleting an agents' vantage deletes its rows by name.
-- SQLite drops a foreign key only with its table: each table is made again
-- and its rows copied.
CREATE TABLE proxyhealth_vantage_transitions_by_name (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    vantage TEXT NOT NULL,
    proxy_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    report TEXT NOT NULL
) STRICT;
INSERT INTO proxyhealth_vantage_transitions_by_name
    (id, vantage, proxy_id, at, from_status, to_status, report)
SELECT t.id, v.name_key, t.proxy_id, t.at, t.from_status, t.to_status, t.report
FROM proxyhealth_vantage_transitions t JOIN proxyhealth_vantages v ON v.id = t.vantage_id;
DROP TABLE proxyhealth_vantage_transitions;
ALTER TABLE proxyhealth_vantage_transitions_by_name RENAME TO proxyhealth_vantage_transitions;
CREATE INDEX proxyhealth_vantage_transitions_proxy_idx
    ON proxyhealth_vantage_transitions (vantage, proxy_id, at);
CREATE INDEX proxyhealth_vantage_transitions_at_idx ON proxyhealth_vantage_transitions (at);

CREATE TABLE proxyhealth_vantage_rollups_by_name (
    vantage TEXT NOT NULL,
    proxy_id TEXT NOT NULL,
    hour INTEGER NOT NULL,
    checks INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    unhealthy INTEGER NOT NULL,
    unreachable INTEGER NOT NULL,
    latency_max_us INTEGER,
    sketch BLOB NOT NULL,
    PRIMARY KEY (vantage, proxy_id, hour)
) STRICT;
INSERT INTO proxyhealth_vantage_rollups_by_name
    (vantage, proxy_id, hour, checks, ok, unhealthy, unreachable, latency_max_us, sketch)
SELECT v.name_key, r.proxy_id, r.hour, r.checks, r.ok, r.unhealthy, r.unreachable,
    r.latency_max_us, r.sketch
FROM proxyhealth_vantage_rollups r JOIN proxyhealth_vantages v ON v.id = r.vantage_id;
DROP TABLE proxyhealth_vantage_rollups;
ALTER TABLE proxyhealth_vantage_rollups_by_name RENAME TO proxyhealth_vantage_rollups;
CREATE INDEX proxyhealth_vantage_rollups_hour_idx ON proxyhealth_vantage_rollups (hour);
