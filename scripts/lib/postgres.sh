# shellcheck shell=bash
# A throwaway PostgreSQL server for tests. Source this file, then:
#
#   pg_start   # initdb in a fresh temp dir, start on a free 127.0.0.1 port,
#              # export PROXYHEALTH_TEST_PG_URL=postgres://postgres@127.0.0.1:PORT/postgres
#   ...        # run tests
#   pg_stop    # stop the server and remove its directory
#
# Installs Debian's postgresql with apt-get when no initdb is found. Runs the
# server as the `postgres` user when called as root (initdb refuses root).
# Auth is `trust` and the server listens on loopback only. Safe under
# `set -euo pipefail`: every function returns non-zero with a message on failure.

# The temp dir of the running server (data, socket, log); empty when none runs.
PROXYHEALTH_PG_DIR="${PROXYHEALTH_PG_DIR:-}"
# The directory holding initdb and pg_ctl, found by _pg_find_bindir.
_PG_BINDIR=""

_pg_log() { printf 'postgres.sh: %s\n' "$*" >&2; }

# Finds the directory of initdb: on PATH, else the newest /usr/lib/postgresql/*/bin.
_pg_find_bindir() {
  local initdb="" candidate
  if initdb="$(command -v initdb 2>/dev/null)" && [[ -n "$initdb" ]]; then
    _PG_BINDIR="$(dirname "$initdb")"
    return 0
  fi
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$candidate/initdb" ]]; then
      _PG_BINDIR="$candidate"
      return 0
    fi
  done
  return 1
}

# Installs Debian's postgresql package (needs root, or sudo).
_pg_install() {
  local sudo=""
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { _pg_log "initdb not found and not root: install postgresql"; return 1; }
    sudo="sudo"
  fi
  _pg_log "initdb not found: installing postgresql with apt-get"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || return 1
}

# Runs a command as the postgres user when we are root, else as ourselves.
_pg_as_owner() {
  if [[ "$(id -u)" -eq 0 ]]; then
    if command -v runuser >/dev/null 2>&1; then
      runuser -u postgres -- "$@"
    else
      su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
  else
    "$@"
  fi
}

# A port in 20000-59999 nobody listens on right now (pg_ctl start may still lose
# a race for it; pg_start retries with another port).
_pg_pick_port() {
  local port tries=0
  while (( tries < 50 )); do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      printf '%s\n' "$port"
      return 0
    fi
    tries=$(( tries + 1 ))
  done
  return 1
}

# Starts a fresh server and exports PROXYHEALTH_TEST_PG_URL.
pg_start() {
  if [[ -n "${PROXYHEALTH_PG_DIR:-}" ]]; then
    _pg_log "a server already runs in $PROXYHEALTH_PG_DIR; call pg_stop first"
    return 1
  fi
  if ! _pg_find_bindir; then
    _pg_install || { _pg_log "installing postgresql failed"; return 1; }
    _pg_find_bindir || { _pg_log "initdb still not found after installing postgresql"; return 1; }
  fi
  local pg_ctl="$_PG_BINDIR/pg_ctl"
  [[ -x "$pg_ctl" ]] || pg_ctl="$(command -v pg_ctl 2>/dev/null || true)"
  [[ -n "$pg_ctl" ]] || { _pg_log "pg_ctl not found next to $_PG_BINDIR/initdb"; return 1; }

  local dir
  dir="$(mktemp -d "${TMPDIR:-/tmp}/proxyhealth-pg.XXXXXX")" || return 1
  if [[ "$(id -u)" -eq 0 ]]; then
    chown postgres: "$dir" || { rm -rf "$dir"; return 1; }
  fi
  if ! _pg_as_owner "$_PG_BINDIR/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
      --locale=C >"$dir/initdb.log" 2>&1; then
    _pg_log "initdb failed:"; cat "$dir/initdb.log" >&2 || true
    rm -rf "$dir"
    return 1
  fi

  local port attempt
  for attempt in 1 2 3 4 5; do
    port="$(_pg_pick_port)" || { _pg_log "no free port found"; rm -rf "$dir"; return 1; }
    if _pg_as_owner "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c max_connections=300 -c fsync=off" \
        start >/dev/null 2>&1; then
      PROXYHEALTH_PG_DIR="$dir"
      export PROXYHEALTH_PG_DIR
      export PROXYHEALTH_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
      _pg_wait_ready "$port" || { pg_stop; return 1; }
      _pg_log "PostgreSQL ready at $PROXYHEALTH_TEST_PG_URL (dir $dir)"
      return 0
    fi
    _pg_log "start on port $port failed (attempt $attempt)"
  done
  _pg_log "could not start PostgreSQL; server log:"
  cat "$dir/server.log" >&2 || true
  rm -rf "$dir"
  return 1
}

# Waits until the server accepts connections on the port (pg_ctl -w already
# waited; this double-checks over TCP).
_pg_wait_ready() {
  local port="$1" i
  for (( i = 0; i < 60; i++ )); do
    if command -v pg_isready >/dev/null 2>&1; then
      pg_isready -q -h 127.0.0.1 -p "$port" && return 0
    elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  _pg_log "PostgreSQL did not become ready on port $port"
  return 1
}

# Stops the server started by pg_start and removes its directory.
pg_stop() {
  local dir="${PROXYHEALTH_PG_DIR:-}"
  [[ -n "$dir" ]] || return 0
  local pg_ctl="${_PG_BINDIR:+$_PG_BINDIR/pg_ctl}"
  [[ -n "$pg_ctl" && -x "$pg_ctl" ]] || pg_ctl="$(command -v pg_ctl 2>/dev/null || true)"
  if [[ -n "$pg_ctl" && -d "$dir/data" ]]; then
    _pg_as_owner "$pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || _pg_log "pg_ctl stop failed"
  fi
  rm -rf "$dir"
  PROXYHEALTH_PG_DIR=""
  unset PROXYHEALTH_TEST_PG_URL
  return 0
}
