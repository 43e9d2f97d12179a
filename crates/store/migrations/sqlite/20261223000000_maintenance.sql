-- Maintenance windows: [starts_at, ends_at) for one proxy (proxy_id) or every
-- proxy (proxy_id NULL), repeating every 7 days when weekly is 1; ended_at is
-- set when it was ended early. Times are unix nanoseconds (UTC).
CREATE TABLE proxyhealth_maintenance (
    id TEXT PRIMARY KEY NOT NULL,
    proxy_id TEXT,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    weekly INTEGER NOT NULL DEFAULT 0,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    ended_at INTEGER,
    CHECK (ends_at > starts_at)
) STRICT;
