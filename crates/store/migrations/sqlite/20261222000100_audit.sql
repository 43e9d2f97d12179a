-- The audit log: what people did through the API (and were refused for
-- their role). Route templates and ids or names only: never a query, body,
-- header, token or secret. Times are unix nanoseconds (UTC); entries older
-- than the retention (audit_retention) are pruned.
CREATE TABLE proxyhealth_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    credential TEXT NOT NULL,
    subject TEXT,
    email TEXT,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    object TEXT,
    client TEXT,
    status INTEGER NOT NULL
) STRICT;
CREATE INDEX proxyhealth_audit_at ON proxyhealth_audit (at);
