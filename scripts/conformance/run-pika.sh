#!/usr/bin/env bash
# run-pika.sh [BROKER_CMD]: runs pika's public acceptance tests (blocking, asyncio/select async adapters,
# one-basic-get) against a broker in a private loopback on port 5672 and prints pass/fail counts and each failure.
# BROKER_CMD: 'eventtermq' (default: this checkout's dist/src/cli/main.js), 'rabbitmq', or any shell command.
# Needs: the pika source tree in $CONFORMANCE_DIR/pika (tests import pika from it) and a Python 3 with pytest:
# PIKA_PYTHON, else the first of python3 (pyenv) / /usr/bin/python3 that can import pytest.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
resolve_broker "${1:-}" || exit 2

SUITE_DIR="$CONFORMANCE_DIR/pika"
if [[ ! -f "$SUITE_DIR/tests/acceptance/blocking_adapter_test.py" ]]; then
  echo "pika suite missing in $SUITE_DIR (see scripts/conformance/README.md)" >&2
  exit 2
fi
if [[ -z "${PIKA_PYTHON:-}" ]]; then
  for candidate in python3 /usr/bin/python3; do
    if "$candidate" -c 'import pytest' 2>/dev/null; then PIKA_PYTHON="$(command -v "$candidate")"; break; fi
  done
fi
if [[ -z "${PIKA_PYTHON:-}" ]]; then
  echo "no Python with pytest found: apt-get install -y python3-pytest, or set PIKA_PYTHON" >&2
  exit 2
fi
# The selection CONFORMANCE.md quotes (284 cases on RabbitMQ 3.10.8); PIKA_EXTENDED=1 adds the thread-safe
# connection, bounded queue and I/O services tests (90 more, all pass on RabbitMQ 3.10.8).
FILES="tests/acceptance/blocking_adapter_test.py tests/acceptance/async_adapter_tests.py \
  tests/acceptance/enforce_one_basicget_test.py"
EXPECTED=284
if [[ "${PIKA_EXTENDED:-0}" == 1 ]]; then
  FILES+=" tests/acceptance/thread_safe_connection_test.py tests/acceptance/thread_safe_bounded_queue_test.py \
  tests/acceptance/io_services_tests.py"
  EXPECTED=374
fi
LOG="$RESULTS_DIR/pika-$BROKER_LABEL.log"
XML="$RESULTS_DIR/pika-$BROKER_LABEL.xml"
rm -f "$XML"

# Each pika test has its own 15 s limit; the outer one is for a broker that hangs everything.
# SIGINT lets pytest stop cleanly and still write the JUnit report.
TEST_CMD="cd '$SUITE_DIR' && timeout -s INT -k 30 ${PIKA_TIMEOUT_S:-1200} '$PIKA_PYTHON' -m pytest -q -p no:cacheprovider \
  --junitxml='$XML' -o junit_family=xunit2 $FILES -k 'not gevent and not tornado and not kqueue and not twisted'"

echo "pika vs $BROKER_LABEL ($PIKA_PYTHON): $BROKER_CMD"
run_junit_suite pika "$TEST_CMD" "$LOG" "$XML" "$EXPECTED"
