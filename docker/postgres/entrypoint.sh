#!/bin/sh
# Initialise $PGDATA on first start (user $POSTGRES_USER with $POSTGRES_PASSWORD, database
# $POSTGRES_DB), then run postgres in the foreground listening on all interfaces.
# Arguments are passed to postgres (e.g. -c fsync=off).
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /run/postgresql
    chown postgres:postgres "$PGDATA" /run/postgresql
    chmod 700 "$PGDATA"
else
    as_postgres() { "$@"; }
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    chown postgres "$pwfile" 2>/dev/null || true
    as_postgres initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
        echo "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\";" \
            | as_postgres postgres --single -D "$PGDATA" postgres >/dev/null
    fi
    echo "postgres-entrypoint: initialised $PGDATA (database $POSTGRES_DB, user $POSTGRES_USER)"
fi

exec_postgres() { exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
[ "$(id -u)" = 0 ] || exec_postgres() { exec "$@"; }
exec_postgres postgres -D "$PGDATA" -c listen_addresses='*' "$@"
