-- The audit log: what people did through the API (and were refused for
-- their role). Route templates and ids or names only: never a query, body,
-- header, token or secret. Entries older than the retention
-- (audit_retention) are pruned.
CREATE TABLE proxyhealth_audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    credential text NOT NULL,
    subject text,
    email text,
    role text NOT NULL,
    action text NOT NULL,
    method text NOT NULL,
    route text NOT NULL,
    object text,
    client text,
    status integer NOT NULL
);
CREATE INDEX proxyhealth_audit_at ON proxyhealth_audit (at);
