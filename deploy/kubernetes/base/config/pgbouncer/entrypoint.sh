#!/bin/sh
# Builds PgBouncer's auth file from the role passwords, then runs PgBouncer in the
# foreground. Each password comes from ALPHA_DB_<ROLE>_PASSWORD or, as Docker secrets
# are mounted, from the file named by ALPHA_DB_<ROLE>_PASSWORD_FILE.
set -eu

secret() {  # secret VAR -> prints the value of VAR or of the file named by VAR_FILE
    eval "value=\${$1:-}"
    eval "file=\${$1_FILE:-}"
    if [ -n "$file" ]; then
        [ -z "$value" ] || { echo "pgbouncer: set $1 or $1_FILE, not both" >&2; exit 64; }
        value=$(cat "$file")
    fi
    [ -n "$value" ] || { echo "pgbouncer: $1 (or $1_FILE) is not set" >&2; exit 64; }
    printf '%s' "$value"
}

prefix=${ALPHA_DB_ROLE_PREFIX:-alpha}
dbname=${POSTGRES_DB:-alpha}
case "$dbname" in
    '' | *[!A-Za-z0-9_]*) echo "pgbouncer: POSTGRES_DB must be letters, digits and _" >&2; exit 64 ;;
esac
# Overridable so the tests can run this very script against a real local PgBouncer.
config=${PGBOUNCER_CONFIG:-/etc/pgbouncer/alpha/pgbouncer.ini}
auth_file=${PGBOUNCER_AUTH_FILE:-/tmp/pgbouncer/userlist.txt}
run_dir=$(dirname "$auth_file")
umask 077
mkdir -p "$run_dir"
: > "$auth_file"
for role in listener app bot sync collector readonly; do
    var=$(echo "ALPHA_DB_${role}_PASSWORD" | tr '[:lower:]' '[:upper:]')
    password=$(secret "$var")
    # userlist.txt quoting: a double quote inside a value is doubled.
    escaped=$(printf '%s' "$password" | sed 's/"/""/g')
    printf '"%s_%s" "%s"\n' "$prefix" "$role" "$escaped" >> "$auth_file"
done

# The configuration PgBouncer runs: pgbouncer.ini with what the environment decides
# filled in. (An "%include" followed by overrides does not work: re-opening the
# [pgbouncer] section resets every setting of it to PgBouncer's defaults.)
#   auth_file        always the file written above
#   role names       alpha_* -> ${ALPHA_DB_ROLE_PREFIX}_* ([users])
#   database         the one entry: POSTGRES_DB on POSTGRES_HOST / POSTGRES_PORT
#                    (compose: postgres:5432)
#   listen address   PGBOUNCER_LISTEN_ADDR / PGBOUNCER_PORT, if set (compose: 0.0.0.0:6432)
runtime="$run_dir/pgbouncer.ini"
set -- -e "s|^auth_file = .*|auth_file = $auth_file|" \
       -e "s|^alpha = host=.*|$dbname = host=${POSTGRES_HOST:-postgres} port=${POSTGRES_PORT:-5432} dbname=$dbname|"
for role in listener app bot sync collector readonly; do  # BRE without \| (busybox sed in the image)
    set -- "$@" -e "s/^alpha_$role = /${prefix}_$role = /"
done
[ -z "${PGBOUNCER_LISTEN_ADDR:-}" ] || set -- "$@" -e "s|^listen_addr = .*|listen_addr = $PGBOUNCER_LISTEN_ADDR|"
[ -z "${PGBOUNCER_PORT:-}" ] || set -- "$@" -e "s|^listen_port = .*|listen_port = $PGBOUNCER_PORT|"
sed "$@" "$config" > "$runtime"
for line in "auth_file = $auth_file" "${prefix}_app = " "$dbname = host="; do
    grep -q "^$line" "$runtime" || {
        echo "pgbouncer: $config has no line to set '$line' from" >&2
        exit 78
    }
done
exec pgbouncer "$runtime"
