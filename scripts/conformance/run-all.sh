#!/usr/bin/env bash
# run-all.sh [BROKER_CMD]: runs amqplib, pika, amqp-tools, Celery and kombu checks one after another against the
# same kind of broker (a fresh one per suite) and prints a summary table. Exit 0 only if every suite passed.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/common.sh"
# Passed on as given ('rabbitmq', 'eventtermq' or a command): each suite resolves it and starts its own broker.
BROKER_ARG="${1:-${BROKER_CMD:-eventtermq}}"
resolve_broker "$BROKER_ARG" || exit 2

declare -a ROWS
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$LINE"; } # a key=value from the current RESULT line
STATUS=0
for suite in amqplib pika amqp-tools celery kombu; do
  echo "=== $suite ==="
  START=$(date +%s)
  OUT="$("$HERE/run-$suite.sh" "$BROKER_ARG" 2>&1)"
  RC=$?
  echo "$OUT"
  ((RC == 0)) || STATUS=1
  LINE="$(grep '^RESULT ' <<<"$OUT" | tail -1)"
  # No RESULT line: the suite could not start (not installed, broker not built); show its last words.
  [[ -n "$LINE" ]] || LINE="RESULT note=did-not-run:$(tail -1 <<<"$OUT" | tr ' ' '_' | cut -c1-80)"
  ROWS+=("$(printf '%-11s %6s %6s %6s %6ss  %s' "$suite" "$(field pass)" "$(field fail)" "$(field total)" \
    "$(($(date +%s) - START))" "$(field note)")")
done

echo
echo "Conformance summary, broker: $BROKER_LABEL ($(date -u +%Y-%m-%dT%H:%MZ))"
printf '%-11s %6s %6s %6s %7s  %s\n' suite pass fail total time note
for row in "${ROWS[@]}"; do echo "$row"; done
exit $STATUS
