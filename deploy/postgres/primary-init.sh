#!/bin/bash
# Runs once, from /docker-entrypoint-initdb.d, when the primary's data directory is created.
# The postgres image either executes or sources this file (depending on its mode bits), so it
# sets no shell options and never calls `exit`.
#
# - a replication role for the standby, allowed in pg_hba.conf;
# - the physical replication slot `standby1` of the standby (deploy/postgres/standby-entrypoint.sh),
#   so the primary keeps WAL the standby has not received;
# - synchronous replication, switched on only now (ALTER SYSTEM, effective from the real start):
#   had synchronous_standby_names been given on the command line, the entrypoint's own
#   CREATE DATABASE would wait forever for a standby that cannot exist before this script has run.
: "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD must be set for the primary}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v repl_password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'repl_password';
-- Reserve WAL from now on, so that the standby's base backup and streaming never miss a segment.
SELECT pg_create_physical_replication_slot('standby1', true);
ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (standby1)';
ALTER SYSTEM SET synchronous_commit = 'on';
SQL

echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
