#!/usr/bin/env bash
# Contract test of the HTTP API with an outside client: schemathesis (from PyPI, installed into
# a throw-away virtualenv) fuzzes the bank server through its served /openapi.json for about a
# minute and fails on any 5xx or any answer that breaks the document. The server runs in memory
# on a free port of 127.0.0.1 and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${SCHEMATHESIS_VENV:-${TMPDIR:-/tmp}/fluvius-schemathesis}"
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis>=4,<5"
fi

cargo build --quiet -p example-bank-server
binary="${CARGO_TARGET_DIR:-target}/debug/example-bank-server"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

env -u DATABASE_URL BIND="127.0.0.1:$port" RUST_LOG=warn "$binary" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT

# schemathesis keeps a cache in its working directory: run it in the virtualenv's.
cd "$venv"
"$venv/bin/st" run "http://127.0.0.1:$port/openapi.json" \
  --wait-for-schema 30 \
  --max-time 60 \
  --max-examples 20 \
  --seed 1 \
  --no-color \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
