#!/usr/bin/env bash
# Load on the approval service: 64 clients record approvals (each a new signed, audited,
# durable statement), then 64 clients read decisions, for LOAD_SECONDS each, against a release
# `countersign serve` on loopback; once over SQLite and once over PostgreSQL. Bounded in time:
# about 2 × (setup + 2 × LOAD_SECONDS).
#
#   bench/server-load.sh                 # both backends, 10 s per phase
#   LOAD_SECONDS=5 bench/server-load.sh sqlite
set -euo pipefail
cd "$(dirname "$0")/.."
export LOAD_SECONDS="${LOAD_SECONDS:-10}" LOAD_CLIENTS="${LOAD_CLIENTS:-64}"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

backends=("$@")
[[ ${#backends[@]} -gt 0 ]] || backends=(sqlite postgres)
for backend in "${backends[@]}"; do
  if [[ $backend == postgres ]] && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  fi
  LOAD_BACKEND=$backend cargo bench --quiet -p countersign --bench server_load 2>/dev/null
done
echo "machine: $(nproc) cores; client threads, server and database share them"
