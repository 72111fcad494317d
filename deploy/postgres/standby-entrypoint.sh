#!/bin/bash
# Entrypoint of the synchronous standby: on first start, clone the primary with pg_basebackup and
# configure streaming replication; afterwards (data directory present) just start PostgreSQL.
# Runs as root, like the image's own entrypoint, and hands over to it at the end.
set -Eeo pipefail

: "${PGDATA:?}"
: "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD must be set for the standby}"
PRIMARY_HOST="${PRIMARY_HOST:-postgres-primary}"
# Must match synchronous_standby_names and the slot created in deploy/postgres/primary-init.sh.
STANDBY_NAME=standby1

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    install -d -o postgres -g postgres -m 0700 "$PGDATA"
    chown postgres:postgres "$(dirname "$PGDATA")"
    export PGPASSWORD="$REPLICATION_PASSWORD"
    until gosu postgres pg_isready --quiet --host "$PRIMARY_HOST" --port 5432; do
        echo "standby: waiting for $PRIMARY_HOST" >&2
        sleep 2
    done
    # The slot was created by the primary's init script (deploy/postgres/primary-init.sh).
    gosu postgres pg_basebackup --host "$PRIMARY_HOST" --port 5432 --username replicator \
        --pgdata "$PGDATA" --wal-method stream --slot "$STANDBY_NAME" --checkpoint fast
    unset PGPASSWORD
    gosu postgres touch "$PGDATA/standby.signal"
    # application_name is what the primary's synchronous_standby_names refers to. The standby
    # itself names no synchronous standby, so that it does not block its own commits if promoted.
    # (The password must not contain a single quote.)
    gosu postgres tee -a "$PGDATA/postgresql.auto.conf" >/dev/null <<CONF
primary_conninfo = 'host=$PRIMARY_HOST port=5432 user=replicator password=$REPLICATION_PASSWORD application_name=$STANDBY_NAME'
primary_slot_name = '$STANDBY_NAME'
synchronous_standby_names = ''
CONF
fi

exec docker-entrypoint.sh "$@"
