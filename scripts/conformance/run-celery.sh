#!/usr/bin/env bash
# run-celery.sh [BROKER_CMD]: runs our Celery application check (test/celery/run_celery_check.py: late acks,
# retries with countdown, ETA tasks, group, chain, worker crash redelivery, rpc:// results, control ping)
# against a broker in a private loopback on port 5672. The checker starts its own `celery worker --pool=solo`.
# Python: CELERY_PYTHON, else the first of /usr/bin/python3 (Debian python3-celery) / python3 that imports celery.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
resolve_broker "${1:-}" || exit 2

CHECK="$EVENTTERMQ_ROOT/test/celery/run_celery_check.py"
if [[ -z "${CELERY_PYTHON:-}" ]]; then
  for candidate in /usr/bin/python3 python3; do
    if "$candidate" -c 'import celery' 2>/dev/null; then CELERY_PYTHON="$(command -v "$candidate")"; break; fi
  done
fi
if [[ -z "${CELERY_PYTHON:-}" ]]; then
  echo "no Python with Celery found: apt-get install -y python3-celery, or set CELERY_PYTHON" >&2
  exit 2
fi
LOG="$RESULTS_DIR/celery-$BROKER_LABEL.log"

echo "celery vs $BROKER_LABEL ($CELERY_PYTHON): $BROKER_CMD"
# No __pycache__ in the project tree.
run_in_netns "PYTHONDONTWRITEBYTECODE=1 timeout -k 10 ${CELERY_TIMEOUT_S:-110} '$CELERY_PYTHON' '$CHECK'" >"$LOG" 2>&1
RC=$?
grep '^FAIL ' "$LOG"
PASS=$(grep -c '^PASS ' "$LOG")
FAIL=$(grep -c '^FAIL ' "$LOG")
echo "(log: $LOG)"
# The checker runs 10 checks; fewer lines means it died early.
print_result celery "$PASS" "$FAIL" 10 "$([[ $RC != 0 && $FAIL == 0 ]] && echo "rc=$RC")"
