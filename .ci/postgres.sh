#!/usr/bin/env bash
# Start (once) a throwaway PostgreSQL cluster on loopback from Debian's packages and create an
# empty database in it; print its SQLAlchemy URL on stdout.
#   bash .ci/postgres.sh [DBNAME]      (default trendml_test; PGPORT default 54329)
# The cluster lives in ${TRENDML_PG_DIR:-/tmp/trendml-pg}; it trusts loopback connections only.
# PostgreSQL refuses to run as root, so as root the server runs as Debian's `postgres` user.
set -euo pipefail
DB="${1:-trendml_test}"
PORT="${PGPORT:-54329}"
DIR="${TRENDML_PG_DIR:-/tmp/trendml-pg}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -z "$BIN" ]; then
  echo "installing Debian's postgresql for the PostgreSQL tests" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
fi
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); else AS=(); fi
if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  if [ ! -f "$DIR/PG_VERSION" ]; then
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    "${AS[@]}" "$BIN/initdb" -D "$DIR" -U trendml --auth=trust >/dev/null
  fi
  "${AS[@]}" "$BIN/pg_ctl" -s -D "$DIR" -l "$DIR/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories='$DIR' -c fsync=off -c max_connections=200" start >&2
fi
if ! "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U trendml -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
  "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U trendml "$DB"
fi
echo "postgresql+psycopg://trendml@127.0.0.1:$PORT/$DB"
