-- Maintenance windows: [starts_at, ends_at) for one proxy (proxy_id) or every
-- proxy (proxy_id NULL), repeating every 7 days when weekly; ended_at is set
-- when it was ended early. Shared by every replica.
CREATE TABLE proxyhealth_maintenance (
    id uuid PRIMARY KEY,
    proxy_id uuid,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    weekly boolean NOT NULL DEFAULT false,
    reason text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    CHECK (ends_at > starts_at)
);
