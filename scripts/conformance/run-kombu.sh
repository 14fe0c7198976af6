#!/usr/bin/env bash
# run-kombu.sh [BROKER_CMD]: runs kombu's public py-amqp integration tests (connect, publish/consume, exchange
# types, TTL, priority, ack/reject/requeue, failover) against a broker in a private loopback on port 5672.
# kombu is Celery's transport layer. Needs: kombu's source at tag v5.2.4 in $CONFORMANCE_DIR/kombu (the version
# Debian 12 ships, so it matches python3-amqp) and a Python with pytest + py-amqp: KOMBU_PYTHON, default
# /usr/bin/python3 (Debian: python3-pytest python3-kombu).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
resolve_broker "${1:-}" || exit 2

SUITE_DIR="$CONFORMANCE_DIR/kombu"
KOMBU_PYTHON="${KOMBU_PYTHON:-/usr/bin/python3}"
if [[ ! -f "$SUITE_DIR/t/integration/test_py_amqp.py" ]]; then
  echo "kombu suite missing in $SUITE_DIR (see scripts/conformance/README.md)" >&2
  exit 2
fi
if ! "$KOMBU_PYTHON" -c 'import pytest, amqp, vine' 2>/dev/null; then
  echo "$KOMBU_PYTHON lacks pytest/amqp/vine: apt-get install -y python3-pytest python3-kombu" >&2
  exit 2
fi
EXPECTED=39 # cases RabbitMQ 3.10.8 runs (and passes) here
LOG="$RESULTS_DIR/kombu-$BROKER_LABEL.log"
XML="$RESULTS_DIR/kombu-$BROKER_LABEL.xml"
rm -f "$XML"

# -E py-amqp selects the RabbitMQ tests (the rest of the file needs Redis).
TEST_CMD="cd '$SUITE_DIR' && RABBITMQ_HOST=127.0.0.1 PYTHONDONTWRITEBYTECODE=1 \
  timeout -s INT -k 30 ${KOMBU_TIMEOUT_S:-300} '$KOMBU_PYTHON' -m pytest -q -p no:cacheprovider \
  -W ignore::pytest.PytestUnknownMarkWarning --junitxml='$XML' -o junit_family=xunit2 \
  -E py-amqp t/integration/test_py_amqp.py"

echo "kombu vs $BROKER_LABEL ($KOMBU_PYTHON): $BROKER_CMD"
run_junit_suite kombu "$TEST_CMD" "$LOG" "$XML" "$EXPECTED"
