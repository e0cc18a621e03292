#!/usr/bin/env bash
# Runs the whole test suite. Starts the local PostgreSQL server first if it is down (the
# PostgreSQL tests use it through DATABASE_URL, one throw-away database per test).
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

postgres_up() { pg_isready -q -d "$DATABASE_URL" >/dev/null 2>&1; }

if ! postgres_up; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -d /etc/postgresql ]; then
    echo "scripts/test.sh: PostgreSQL is down at $DATABASE_URL and no local cluster is installed" >&2
    exit 1
  fi
  echo "scripts/test.sh: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
  for _ in $(seq 1 30); do
    postgres_up && break
    sleep 1
  done
  if ! postgres_up; then
    echo "scripts/test.sh: PostgreSQL did not come up at $DATABASE_URL" >&2
    exit 1
  fi
fi

cargo test --workspace --all-targets
cargo test --workspace --doc
