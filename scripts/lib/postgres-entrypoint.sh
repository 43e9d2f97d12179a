#!/bin/sh
# The entrypoint of the PostgreSQL image made from Debian's package
# (scripts/lib/base-images.sh: postgres_base): the part of the official
# postgres image's entrypoint the deploy files use. On an empty $PGDATA it
# makes a cluster whose superuser is $POSTGRES_USER (postgres) with the
# password from $POSTGRES_PASSWORD_FILE or $POSTGRES_PASSWORD, password
# (scram-sha-256) authentication from any address, and the database
# $POSTGRES_DB (the user's name); then runs PostgreSQL listening on every
# interface.
set -eu

if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi
if [ "$1" != postgres ]; then exec "$@"; fi
shift

: "${PGDATA:=/var/lib/postgresql/data}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    user=${POSTGRES_USER:-postgres}
    if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
        password=$(cat "$POSTGRES_PASSWORD_FILE")
    else
        password=${POSTGRES_PASSWORD:-}
    fi
    if [ -z "$password" ]; then
        echo "error: no password: set POSTGRES_PASSWORD_FILE or POSTGRES_PASSWORD" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$password" >"$pwfile"
    initdb --pgdata="$PGDATA" --username="$user" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    db=${POSTGRES_DB:-$user}
    if [ "$db" != postgres ]; then
        echo "CREATE DATABASE \"$db\" OWNER \"$user\";" |
            postgres --single -D "$PGDATA" -c listen_addresses='' postgres >/dev/null
    fi
    echo "initialised $PGDATA: user $user, database $db"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
