#!/bin/sh
# Prepares the database when asked, then runs the container's command.
#   MIGRATE=true               flask db upgrade first (the migration job or a single instance)
#   SEED=true                  flask seed first (idempotent)
#   WAIT_FOR_MIGRATIONS=true   wait until the database is at the newest revision (web, worker)
set -eu

# Prometheus' multiprocess mode wants an empty folder at every start.
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  rm -rf "$PROMETHEUS_MULTIPROC_DIR"
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi

if [ "${MIGRATE:-false}" = "true" ]; then
  flask db upgrade
fi
if [ "${SEED:-false}" = "true" ]; then
  flask seed
fi
if [ "${WAIT_FOR_MIGRATIONS:-false}" = "true" ]; then
  head=$(flask db heads 2>/dev/null | awk '{print $1}')
  deadline=$(( $(date +%s) + ${MIGRATIONS_TIMEOUT:-300} ))
  until [ "$(flask db current 2>/dev/null | awk '{print $1}')" = "$head" ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "the database is not at migration $head after ${MIGRATIONS_TIMEOUT:-300}s" >&2
      exit 1
    fi
    echo "waiting for migration $head"
    sleep 3
  done
fi
exec "$@"
