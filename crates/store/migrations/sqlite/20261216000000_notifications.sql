-- The notification outbox (issue 16): one row per recorded status transition
-- and configured target, written in the same transaction as the transition
-- (crate::journal), delivered by a worker that claims rows with a lease.
-- Times are unix nanoseconds (UTC). state is pending, delivered, failed or
-- cancelled (superseded within the damping time). A row is sent from
-- next_attempt_at on (not_before, the end of the damping time, at first; later
-- the next retry); it gives up at not_before plus the retry bound.
CREATE TABLE proxyhealth_notifications (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    proxy_id TEXT NOT NULL,
    proxy_name TEXT NOT NULL,
    proxy_url TEXT NOT NULL,
    at INTEGER NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    report TEXT NOT NULL,
    replica_id TEXT,
    previous_ms INTEGER,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    not_before INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    last_error TEXT,
    last_status INTEGER,
    finished_at INTEGER
) STRICT;
-- The worker's claim: pending rows that are due, oldest first.
CREATE INDEX proxyhealth_notifications_due_idx
    ON proxyhealth_notifications (state, next_attempt_at);
-- One proxy's rows for a target: order of delivery, and damping.
CREATE INDEX proxyhealth_notifications_proxy_idx
    ON proxyhealth_notifications (proxy_id, target, id);
