#!/usr/bin/env bash
# The test suite needs real PostgreSQL and Redis; say clearly which one is missing.
set -euo pipefail
pg_url="${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
redis_url="${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
.venv/bin/python - "$pg_url" "$redis_url" <<'PY'
import sys
import psycopg2
import redis

pg_url, redis_url = sys.argv[1], sys.argv[2]
problems = []
try:
    psycopg2.connect(pg_url.replace("postgresql+psycopg2://", "postgresql://"), connect_timeout=3).close()
except Exception as error:
    problems.append(f"PostgreSQL is not reachable at {pg_url} (TEST_DATABASE_URL): {error}".strip())
try:
    redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
except Exception as error:
    problems.append(f"Redis is not reachable at {redis_url} (TEST_REDIS_URL): {error}")
if problems:
    sys.exit("the tests need real servers:\n  " + "\n  ".join(problems))
PY
