#!/usr/bin/env bash
# The infrastructure: Kafka, the MongoDB-protocol server (FerretDB on PostgreSQL), and the topics
# from the registry.
#   deploy/local/infra.sh start | stop | status
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE="$II_ROOT/deploy/local"

case "${1:-start}" in
  start)
    "$HERE/kafka.sh" start
    "$HERE/mongo.sh" start
    say "creating topics from the registry (existing ones are kept)"
    "$II_ROOT/.venv/bin/python" -m incident_shared.admin create-topics
    ;;
  stop)
    "$HERE/mongo.sh" stop
    "$HERE/postgres.sh" stop
    "$HERE/kafka.sh" stop
    ;;
  status)
    "$HERE/kafka.sh" status || true
    "$HERE/mongo.sh" status || true
    "$HERE/postgres.sh" status || true
    ;;
  *) die "usage: $0 start|stop|status" ;;
esac
