-- proxyhealth's SQLite schema: Coder's workspace_proxies table in SQLite types.
-- ids are hyphenated uuid TEXT; timestamps are INTEGER unix nanoseconds (UTC),
-- which sort correctly; booleans are 0/1; the token hash is a BLOB.
CREATE TABLE workspace_proxies (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    icon TEXT NOT NULL,
    url TEXT NOT NULL DEFAULT '',
    wildcard_hostname TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    token_hashed_secret BLOB NOT NULL,
    region_id INTEGER NOT NULL CHECK (region_id >= 1),
    derp_enabled INTEGER NOT NULL DEFAULT 1 CHECK (derp_enabled IN (0, 1)),
    derp_only INTEGER NOT NULL DEFAULT 0 CHECK (derp_only IN (0, 1)),
    version TEXT NOT NULL DEFAULT '',
    CONSTRAINT workspace_proxies_region_id_unique UNIQUE (region_id)
) STRICT;

-- Names are unique case-insensitively among non-deleted proxies.
CREATE UNIQUE INDEX workspace_proxies_lower_name_idx
    ON workspace_proxies (lower(name)) WHERE deleted = 0;

-- The engine lists live proxies in creation order at every sweep.
CREATE INDEX workspace_proxies_live_order_idx
    ON workspace_proxies (created_at, id) WHERE deleted = 0;

-- Service settings such as the admin token hash.
CREATE TABLE proxyhealth_settings (
    key TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) STRICT;
