#!/usr/bin/env bash
# The project-local PostGIS cluster under .data/pg: no system service, its own port and socket,
# so it never clashes with a PostgreSQL already on 5432.
#   scripts/pg.sh start    initialise if needed, start, create the 'gridmap' database
#   scripts/pg.sh stop     stop the cluster
#   scripts/pg.sh status
# PostgreSQL refuses to run as root, so when invoked as root the server runs as the 'postgres'
# user (created by Debian's package), which then owns .data/pg.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA="$ROOT/.data"
PGDATA="$DATA/pg"
RUNDIR="$DATA/run"
PORT="${GRIDMAP_PG_PORT:-54329}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -x "$BIN/pg_ctl" ] || { echo "error: PostgreSQL server binaries not found (run scripts/setup.sh)" >&2; exit 1; }

say() { printf '\033[1;34m[pg]\033[0m %s\n' "$*"; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_dirs() {
  mkdir -p "$PGDATA" "$RUNDIR"
  chmod 700 "$PGDATA"
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$PGDATA" "$RUNDIR"
    # The server user must be able to reach .data/: grant traverse (x, not read) on the parents
    # that lack it, e.g. a clone under /root.
    if ! runuser -u postgres -- test -x "$PGDATA"; then
      d="$DATA"
      while [ "$d" != "/" ]; do
        if ! runuser -u postgres -- test -x "$d"; then
          say "granting traverse permission on $d so the postgres user can reach .data/"
          chmod o+x "$d"
        fi
        d=$(dirname "$d")
      done
    fi
  fi
}

# Write-ahead log settings for bulk loads (issue 4), in a file of their own that every start rewrites and
# postgresql.conf includes, so clusters initialised before they existed get them too. Durability is
# untouched (fsync, synchronous_commit, full_page_writes stay on): checkpoints are only spaced out, so that a
# million-row import is not cut by checkpoints every 1 GB of WAL, each followed by full-page images of every
# page touched again. See the README ("Bulk loads") for a DATABASE_URL server.
tune() {
  local conf="$PGDATA/gridmap.conf" tmp
  tmp=$(mktemp)
  cat > "$tmp" <<CONF
# gridmap: written by scripts/pg.sh at every start (edit the script, not this file)
max_wal_size = 4GB
min_wal_size = 1GB
checkpoint_timeout = 15min
wal_compression = lz4
# An import fills the default 8 MB of WAL buffers (1/32 of shared_buffers) faster than the WAL writer
# empties them, so the importing backend writes WAL itself, 8 kB at a time; and 256 MB of shared buffers
# make it write out dirty pages itself too. Both take a restart (scripts/pg.sh stop; scripts/pg.sh start).
wal_buffers = 64MB
shared_buffers = 1GB
# A bulk import writes its cases, events and heat roll-ups on a second connection, so that PostgreSQL works on
# two cores; that transaction is prepared (two-phase commit) and committed after the import's own (see
# api/reports/bulk.py). Without prepared transactions the import writes everything on one connection.
max_prepared_transactions = 8
CONF
  if ! cmp -s "$tmp" "$conf" 2>/dev/null; then
    cp "$tmp" "$conf"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$conf"
    TUNED=1
  fi
  rm -f "$tmp"
  if ! grep -q "^include_if_exists = 'gridmap.conf'" "$PGDATA/postgresql.conf"; then
    echo "include_if_exists = 'gridmap.conf'" >> "$PGDATA/postgresql.conf"
    TUNED=1
  fi
}

running() { as_owner "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

psql_local() { "$BIN/psql" -X -q -h "$RUNDIR" -p "$PORT" -U gridmap "$@"; }

start() {
  ensure_dirs
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    say "initialising a PostGIS cluster in .data/pg (port $PORT)"
    as_owner "$BIN/initdb" -D "$PGDATA" -U gridmap --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$PGDATA/postgresql.conf" <<CONF
# gridmap: project-local cluster
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$RUNDIR'
max_connections = 200
shared_buffers = 256MB
work_mem = 32MB
maintenance_work_mem = 256MB
logging_collector = off
CONF
  fi
  TUNED=0
  tune
  if ! running; then
    say "starting PostgreSQL on 127.0.0.1:$PORT"
    as_owner "$BIN/pg_ctl" -D "$PGDATA" -l "$RUNDIR/postgresql.log" -w -t 60 start >/dev/null
  elif [ "$TUNED" = 1 ]; then
    say "reloading the configuration (scripts/pg.sh settings changed)"
    as_owner "$BIN/pg_ctl" -D "$PGDATA" reload >/dev/null
    sleep 1
    pending=$(psql_local -d postgres -tAc "SELECT string_agg(name, ', ') FROM pg_settings WHERE pending_restart")
    [ -z "$pending" ] || say "restart to apply $pending: scripts/pg.sh stop && scripts/pg.sh start"
  fi
  if ! psql_local -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='gridmap'" | grep -q 1; then
    psql_local -d postgres -c "CREATE DATABASE gridmap"
  fi
}

stop() {
  if [ -s "$PGDATA/PG_VERSION" ] && running; then
    say "stopping PostgreSQL"
    as_owner "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
  else
    say "not running"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running on 127.0.0.1:$PORT"; else echo "stopped"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
