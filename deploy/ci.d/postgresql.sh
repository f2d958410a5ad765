#!/usr/bin/env bash
# The PostgreSQL server that the local MongoDB-protocol server keeps its data in (deploy/local/mongo.sh):
# installed from the distribution's packages when missing (apt-get update first; as root, or through
# passwordless sudo). `make setup` does the same; this step makes a CI machine's missing package fail
# here, with its own message, rather than in the middle of `make test`. With MONGO_BACKEND=sqlite the
# local server keeps its data in SQLite files and needs no PostgreSQL: nothing to install.
set -euo pipefail
[[ "${MONGO_BACKEND:-postgresql}" == sqlite ]] && exit 0
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/deploy/local/postgres.sh" install
