#!/usr/bin/env bash
# run-amqplib.sh [BROKER_CMD]: runs amqplib's public integration tests (callback API, channel API, connect)
# against a broker in a private loopback on port 5672 and prints pass/fail counts and each failure.
# BROKER_CMD: 'eventtermq' (default: this checkout's dist/src/cli/main.js), 'rabbitmq', or any shell command.
# Needs: the amqplib source in $CONFORMANCE_DIR/amqplib with `npm install` done (see README.md here).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
resolve_broker "${1:-}" || exit 2

SUITE_DIR="$CONFORMANCE_DIR/amqplib"
if [[ ! -f "$SUITE_DIR/test/channel_api.test.js" || ! -d "$SUITE_DIR/node_modules" ]]; then
  echo "amqplib suite missing or not installed in $SUITE_DIR (see scripts/conformance/README.md)" >&2
  exit 2
fi
# Test cases RabbitMQ 3.10.8 runs here; a file that dies early reports fewer.
EXPECTED=75
LOG="$RESULTS_DIR/amqplib-$BROKER_LABEL.log"
XML="$RESULTS_DIR/amqplib-$BROKER_LABEL.xml"
rm -f "$XML"

TEST_CMD="cd '$SUITE_DIR' && URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT timeout -k 10 ${AMQPLIB_TIMEOUT_S:-300} \
  node --test --test-timeout=10000 --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=junit --test-reporter-destination='$XML' \
  test/callback_api.test.js test/channel_api.test.js test/connect.test.js"

echo "amqplib vs $BROKER_LABEL: $BROKER_CMD"
run_junit_suite amqplib "$TEST_CMD" "$LOG" "$XML" "$EXPECTED"
