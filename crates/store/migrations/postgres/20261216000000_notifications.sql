-- The notification outbox (issue 16): one row per recorded status transition
-- and configured target, written in the same transaction as the transition
-- (with several replicas, the fenced result write that recorded it), so a
-- change recorded once is notified once. Replicas' workers claim due rows with
-- FOR UPDATE SKIP LOCKED and a lease on the database clock. state is pending,
-- delivered, failed or cancelled (superseded within the damping time). A row
-- is sent from next_attempt_at on (not_before, the end of the damping time, at
-- first; later the next retry); it gives up at not_before plus the retry bound.
CREATE TABLE proxyhealth_notifications (
    id bigserial NOT NULL,
    target text NOT NULL,
    proxy_id uuid NOT NULL,
    proxy_name text NOT NULL,
    proxy_url text NOT NULL,
    at timestamp with time zone NOT NULL,
    from_status text,
    to_status text NOT NULL,
    report jsonb NOT NULL,
    replica_id uuid,
    previous_ms bigint,
    state text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    not_before timestamp with time zone NOT NULL,
    next_attempt_at timestamp with time zone NOT NULL,
    lease_owner uuid,
    lease_until timestamp with time zone,
    last_error text,
    last_status integer,
    finished_at timestamp with time zone,
    CONSTRAINT proxyhealth_notifications_pkey PRIMARY KEY (id)
);
CREATE INDEX proxyhealth_notifications_due_idx
    ON proxyhealth_notifications (state, next_attempt_at);
CREATE INDEX proxyhealth_notifications_proxy_idx
    ON proxyhealth_notifications (proxy_id, target, id);
