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
# Overridable so the tests can run this very script against a real local PgBouncer.
config=${PGBOUNCER_CONFIG:-/etc/pgbouncer/alpha/pgbouncer.ini}
auth_file=${PGBOUNCER_AUTH_FILE:-/tmp/pgbouncer/userlist.txt}
umask 077
mkdir -p "$(dirname "$auth_file")"
: > "$auth_file"
for role in listener app readonly; do
    var=$(echo "ALPHA_DB_${role}_PASSWORD" | tr '[:lower:]' '[:upper:]')
    password=$(secret "$var")
    # userlist.txt quoting: a double quote inside a value is doubled.
    escaped=$(printf '%s' "$password" | sed 's/"/""/g')
    printf '"%s_%s" "%s"\n' "$prefix" "$role" "$escaped" >> "$auth_file"
done
exec pgbouncer "$config"
