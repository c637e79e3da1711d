#!/bin/sh
# Alpha's Redis: writes the server's config and ACL file, then becomes redis-server.
#
# users.acl.in (generated from core/redis_acl.py by `python -m deploy.redis_acl`) has one
# "<user> <rules>" line per role and one bot line with "{bot}" for the id. Each user's
# password comes from the environment: REDIS_PASSWORD for "default" (the operator),
# REDIS_PASSWORD_<USER> for a role (REDIS_PASSWORD_LISTENER …), and for each bot id in
# REDIS_BOTS (space-separated) REDIS_PASSWORD_BOT_<ID>; each may instead be a file named
# by the variable's _FILE twin (Docker secrets). A missing password stops the
# start with one line naming the variable. The ACL file holds SHA-256 hashes only; the
# passwords go through pipes to sha256sum, never onto a command line (`ps` shows those),
# and are unset before Redis starts. Any arguments are passed on to redis-server.
set -eu
umask 077

run_dir=${REDIS_RUN_DIR:-/tmp}
template=${REDIS_ACL_TEMPLATE:-/etc/redis/alpha/users.acl.in}
acl="$run_dir/users.acl"

fail() { echo "redis: $*" >&2; exit 2; }

# The SHA-256 of the password named by $1 (or read from the file its _FILE twin names),
# through a pipe: `printf` is a shell builtin, so no process carries it as an argument.
hash_of() {
    eval "value=\${$1:-} file=\${$1_FILE:-}"
    if [ -n "$file" ]; then
        [ -z "$value" ] || fail "set either $1 or $1_FILE, not both"
        [ -r "$file" ] || fail "$1_FILE: cannot read $file"
        value=$(cat "$file")
    fi
    [ -n "$value" ] || fail "$1 is not set"
    printf '%s' "$value" | sha256sum | cut -d ' ' -f 1
}

upper() { printf '%s' "$1" | tr 'a-z' 'A-Z'; }

[ -r "$template" ] || fail "cannot read the ACL template $template"
: > "$acl"
while read -r name rules; do
    case "$name" in '' | '#'*) continue ;; esac
    case "$name" in
        *'{bot}'*)
            for bot in ${REDIS_BOTS:-}; do
                case "$bot" in
                    [a-z]*) ;;
                    *) fail "REDIS_BOTS: bad bot id '$bot'" ;;
                esac
                case "$bot" in *[!a-z0-9_]*) fail "REDIS_BOTS: bad bot id '$bot'" ;; esac
                hash=$(hash_of "REDIS_PASSWORD_BOT_$(upper "$bot")")
                user=$(printf '%s' "$name" | sed "s/{bot}/$bot/g")
                line_rules=$(printf '%s' "$rules" | sed "s/{bot}/$bot/g")
                printf 'user %s reset on #%s %s\n' "$user" "$hash" "$line_rules" >> "$acl"
            done
            continue
            ;;
        *[!a-z0-9]*) fail "bad user name '$name' in $template" ;;
        default) hash=$(hash_of REDIS_PASSWORD) ;;
        *) hash=$(hash_of "REDIS_PASSWORD_$(upper "$name")") ;;
    esac
    printf 'user %s reset on #%s %s\n' "$name" "$hash" "$rules" >> "$acl"
done < "$template"

for var in $(env | sed -n 's/^\(REDIS_PASSWORD[A-Z0-9_]*\)=.*/\1/p'); do
    unset "$var"
done
printf 'aclfile %s\n' "$acl" > "$run_dir/redis.conf"
exec redis-server "$run_dir/redis.conf" "$@"
