#!/usr/bin/env bash
# Installs what the test suite needs and a fresh machine may lack: a real
# redis-server for the queue tests, Chromium for the web app's browser tests,
# and the npm tools (dynalite, a DynamoDB-API server, for the store tests;
# axe-core for the accessibility checks; the OpenAPI linter). Safe to run
# again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "deps: installing redis-server"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq redis-server >/dev/null
fi

if ! command -v chromium >/dev/null 2>&1; then
  echo "deps: installing chromium"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq chromium >/dev/null
fi

if [ -f package-lock.json ]; then
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "deps: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  fi
fi
