-- Replicas that name different vantages (`serve --vantage NAME`) each probe
-- every proxy from their own: a replica says its vantage when it registers,
-- and the check rows are one per (proxy, vantage), so the replicas of one
-- vantage share its rows through the claims, and each vantage's newest result
-- is a row every replica reads. Rows made before are the default vantage's.
ALTER TABLE proxyhealth_replicas ADD COLUMN vantage text NOT NULL DEFAULT 'local';
ALTER TABLE proxyhealth_checks ADD COLUMN vantage text NOT NULL DEFAULT 'local';
ALTER TABLE proxyhealth_checks DROP CONSTRAINT proxyhealth_checks_pkey;
ALTER TABLE proxyhealth_checks ADD CONSTRAINT proxyhealth_checks_pkey PRIMARY KEY (proxy_id, vantage);
DROP INDEX proxyhealth_checks_due_idx;
CREATE INDEX proxyhealth_checks_due_idx ON proxyhealth_checks (vantage, due_at);

-- When an agent's reading was kept (the database's clock), so every replica
-- reads the readings the others received: those kept since its last read.
ALTER TABLE proxyhealth_vantage_readings ADD COLUMN stored_at timestamp with time zone NOT NULL DEFAULT now();
CREATE INDEX proxyhealth_vantage_readings_stored_idx ON proxyhealth_vantage_readings (stored_at);
