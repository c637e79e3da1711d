#!/bin/sh
# Healthy means: PgBouncer accepts a login AND reaches PostgreSQL through its pool
# (a plain pg_isready against PgBouncer would pass with the server down).
set -eu
prefix=${ALPHA_DB_ROLE_PREFIX:-alpha}
if [ -n "${ALPHA_DB_READONLY_PASSWORD_FILE:-}" ]; then
    PGPASSWORD=$(cat "$ALPHA_DB_READONLY_PASSWORD_FILE")
else
    PGPASSWORD=${ALPHA_DB_READONLY_PASSWORD:?}
fi
export PGPASSWORD
exec psql -h 127.0.0.1 -p "${PGBOUNCER_PORT:-6432}" -U "${prefix}_readonly" -d "${POSTGRES_DB:-alpha}" \
    -tAqX -v ON_ERROR_STOP=1 -c 'select 1' >/dev/null
