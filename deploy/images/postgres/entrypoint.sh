#!/bin/sh
# First start: initdb with the administrative login, password authentication over TCP.
# Then PostgreSQL runs as PID 1's only child (exec), so `docker stop` shuts it down cleanly.
set -eu
if [ "${1:-postgres}" != "postgres" ]; then exec "$@"; fi
[ $# -gt 0 ] && shift
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    # As the official image: the password, or a file holding it (a Docker/Swarm secret).
    if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
        [ -z "${POSTGRES_PASSWORD:-}" ] || { echo "set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE, not both" >&2; exit 64; }
        POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
    fi
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required on the first start}"
    pwfile=$(mktemp)
    printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of options
    initdb -D "$PGDATA" --username="${POSTGRES_USER:-postgres}" --pwfile="$pwfile" \
        ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$pwfile"
    printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
fi
exec postgres -D "$PGDATA" "$@"
