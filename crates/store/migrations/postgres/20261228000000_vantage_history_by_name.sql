-- Each vantage's own history keyed by the vantage's name (lowercased) rather
-- than by an agents' vantage: the service's own vantage and each replica
-- vantage (`serve --vantage NAME`) keep one too, and they have no row in
-- proxyhealth_vantages. Deleting an agents' vantage deletes its rows by name.
-- Writers of one vantage's rollups are serialised by a transaction-scoped
-- advisory lock on the name (and, for an agents' vantage, its row's lock).
ALTER TABLE proxyhealth_vantage_transitions ADD COLUMN vantage text;
UPDATE proxyhealth_vantage_transitions t SET vantage = lower(v.name)
    FROM proxyhealth_vantages v WHERE v.id = t.vantage_id;
-- the foreign key and the index on vantage_id go with the column
ALTER TABLE proxyhealth_vantage_transitions DROP COLUMN vantage_id;
ALTER TABLE proxyhealth_vantage_transitions ALTER COLUMN vantage SET NOT NULL;
CREATE INDEX proxyhealth_vantage_transitions_proxy_idx
    ON proxyhealth_vantage_transitions (vantage, proxy_id, at);

ALTER TABLE proxyhealth_vantage_rollups ADD COLUMN vantage text;
UPDATE proxyhealth_vantage_rollups r SET vantage = lower(v.name)
    FROM proxyhealth_vantages v WHERE v.id = r.vantage_id;
-- the foreign key and the primary key go with the column
ALTER TABLE proxyhealth_vantage_rollups DROP COLUMN vantage_id;
ALTER TABLE proxyhealth_vantage_rollups ALTER COLUMN vantage SET NOT NULL;
ALTER TABLE proxyhealth_vantage_rollups
    ADD CONSTRAINT proxyhealth_vantage_rollups_pkey PRIMARY KEY (vantage, proxy_id, hour);
