-- proxyhealth's PostgreSQL schema: Coder's workspace_proxies table with Coder's
-- exact columns, types, defaults and index names, so a database made by
-- proxyhealth looks like Coder's to anything that reads it.
CREATE SEQUENCE workspace_proxies_region_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

CREATE TABLE workspace_proxies (
    id uuid NOT NULL,
    name text NOT NULL,
    display_name text NOT NULL,
    icon text NOT NULL,
    url text NOT NULL,
    wildcard_hostname text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    deleted boolean NOT NULL,
    token_hashed_secret bytea NOT NULL,
    region_id integer NOT NULL DEFAULT nextval('workspace_proxies_region_id_seq'::regclass),
    derp_enabled boolean NOT NULL DEFAULT true,
    derp_only boolean NOT NULL DEFAULT false,
    version text NOT NULL DEFAULT ''::text,
    CONSTRAINT workspace_proxies_pkey PRIMARY KEY (id),
    CONSTRAINT workspace_proxies_region_id_unique UNIQUE (region_id)
);

ALTER SEQUENCE workspace_proxies_region_id_seq OWNED BY workspace_proxies.region_id;

COMMENT ON COLUMN workspace_proxies.icon IS 'Expects an emoji character. (/emojis/1f1fa-1f1f8.png)';
COMMENT ON COLUMN workspace_proxies.url IS 'Full url including scheme of the proxy api url: https://us.example.com';
COMMENT ON COLUMN workspace_proxies.wildcard_hostname IS 'Hostname with the wildcard for subdomain based app hosting: *.us.example.com';
COMMENT ON COLUMN workspace_proxies.deleted IS 'Boolean indicator of a deleted workspace proxy. Proxies are soft-deleted.';
COMMENT ON COLUMN workspace_proxies.token_hashed_secret IS 'Hashed secret is used to authenticate the workspace proxy using a session token.';
COMMENT ON COLUMN workspace_proxies.derp_only IS 'Disables app/terminal proxying for this proxy and only acts as a DERP relay.';

-- Names are unique case-insensitively among non-deleted proxies.
CREATE UNIQUE INDEX workspace_proxies_lower_name_idx
    ON workspace_proxies USING btree (lower(name)) WHERE (deleted = false);

-- proxyhealth's own settings, such as the admin token hash.
CREATE TABLE proxyhealth_settings (
    key text NOT NULL,
    value bytea NOT NULL,
    CONSTRAINT proxyhealth_settings_pkey PRIMARY KEY (key)
);
