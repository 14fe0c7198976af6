#!/usr/bin/env bash
# run-amqp-tools.sh [BROKER_CMD]: round trips with the Debian amqp-tools (rabbitmq-c command line clients):
# amqp-declare-queue, amqp-publish, amqp-get, amqp-consume, amqp-delete-queue, with counts and contents checked.
# The broker runs in a private loopback on port 5672; this script re-runs itself inside with --inside.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ "${1:-}" != --inside ]]; then
  resolve_broker "${1:-}" || exit 2
  command -v amqp-publish >/dev/null || { echo "amqp-tools missing: apt-get install -y amqp-tools" >&2; exit 2; }
  LOG="$RESULTS_DIR/amqp-tools-$BROKER_LABEL.log"
  echo "amqp-tools vs $BROKER_LABEL: $BROKER_CMD"
  run_in_netns "timeout -k 5 ${AMQP_TOOLS_TIMEOUT_S:-120} '${BASH_SOURCE[0]}' --inside" >"$LOG" 2>&1
  RC=$?
  grep '^FAIL ' "$LOG"
  PASS=$(grep -c '^PASS ' "$LOG")
  FAIL=$(grep -c '^FAIL ' "$LOG")
  echo "(log: $LOG)"
  print_result amqp-tools "$PASS" "$FAIL" "$(grep -c '^  check ' "${BASH_SOURCE[0]}")" \
    "$([[ $RC != 0 ]] && echo "rc=$RC")"
  exit $?
fi

# ---- inside the private network namespace, the broker is listening ----
URL="amqp://guest:guest@127.0.0.1:$AMQP_PORT"
T=10 # seconds any one client call may take
WORK=$(mktemp -d /tmp/amqp-tools-check.XXXX)
trap 'rm -rf "$WORK"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1 :: $2"; }
# check NAME EXPECTED ACTUAL: compares two strings.
check() { if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1" "expected [$2] got [${3:0:200}]"; fi; }
declare_q() { timeout $T amqp-declare-queue --url "$URL" "$@" 2>&1; }
publish() { timeout $T amqp-publish --url "$URL" "$@" 2>&1; }
get() { timeout $T amqp-get --url "$URL" "$@"; }
# consume OPTIONS -- COMMAND...: the '--' matters, popt would read the command's own options.
consume() { timeout $T amqp-consume --url "$URL" "$@"; }
delete_q() { timeout $T amqp-delete-queue --url "$URL" "$@" 2>&1; }

Q=conf.tools.q
  check 'declare-queue named' "$Q" "$(declare_q -q $Q)"
  check 'declare-queue durable' conf.tools.durable "$(declare_q -d -q conf.tools.durable)"
SERVER_NAMED=$(declare_q -q '')
  check 'declare-queue server-named (non-empty name)' yes "$([[ -n "$SERVER_NAMED" && "$SERVER_NAMED" != *rror* ]] && echo yes || echo "$SERVER_NAMED")"
  check 'declare-queue redeclare same' "$Q" "$(declare_q -q $Q)"
  check 'declare-queue redeclare durable mismatch fails' failed "$(declare_q -d -q $Q >/dev/null && echo ok || echo failed)"

errors=''
for i in 1 2 3 4 5; do publish -r $Q -b "message $i" || errors+=" $i"; done
  check 'publish 5 to default exchange' '' "$errors"
got=''
for i in 1 2 3 4 5; do got+="$(get -q $Q 2>&1)|"; done
  check 'get 5 in order' 'message 1|message 2|message 3|message 4|message 5|' "$got"
  check 'get on empty queue exits non-zero' nonzero "$(get -q $Q >/dev/null 2>&1 && echo zero || echo nonzero)"

publish -p -C application/json -E utf-8 -H 'x-check: yes' -r $Q -b '{"a":1}' >/dev/null
  check 'publish persistent with properties and header, get body' '{"a":1}' "$(get -q $Q 2>&1)"

# Each check below starts from an empty queue of its own, so one failure does not cascade.
fresh_q() { delete_q -q "$1" >/dev/null 2>&1; declare_q -q "$1" >/dev/null; }

fresh_q conf.tools.lines
printf 'line a\nline b\nline c\n' | publish -l -r conf.tools.lines >/dev/null
  check 'publish -l (one message per line), consume -c 3' 'line a|line b|line c|' \
    "$(consume -q conf.tools.lines -c 3 -- sh -c 'cat; echo "|"' 2>/dev/null | tr -d '\n')"

fresh_q conf.tools.big
head -c 1048576 /dev/urandom >"$WORK/big.bin"
publish -r conf.tools.big <"$WORK/big.bin" >/dev/null
get -q conf.tools.big >"$WORK/big.out" 2>/dev/null
  check 'publish 1 MiB binary body from stdin, get identical bytes' same \
    "$(cmp -s "$WORK/big.bin" "$WORK/big.out" && echo same || echo "differ ($(stat -c %s "$WORK/big.out") bytes back)")"

fresh_q conf.tools.prefetch
for i in $(seq 1 20); do publish -r conf.tools.prefetch -b "p$i" >/dev/null; done
  check 'consume 20 with prefetch 1, acks each' 20 \
    "$(consume -q conf.tools.prefetch -p 1 -c 20 -- sh -c 'cat; echo' 2>/dev/null | grep -c '^p')"
  check 'queue empty after acked consume' nonzero \
    "$(get -q conf.tools.prefetch >/dev/null 2>&1 && echo zero || echo nonzero)"

fresh_q conf.tools.noack
for i in 1 2 3; do publish -r conf.tools.noack -b "n$i" >/dev/null; done
  check 'consume --no-ack 3' 'n1n2n3' "$(consume -A -q conf.tools.noack -c 3 -- cat 2>/dev/null)"
  check 'queue empty after no-ack consume' nonzero "$(get -q conf.tools.noack >/dev/null 2>&1 && echo zero || echo nonzero)"

# Exchanges: amqp-consume -e declares an exclusive server-named queue and binds it; give it a moment to bind.
# (-r is given for fanout too: amqp-consume from rabbitmq-c 0.11 crashes with -e and no -r.)
consume -e amq.fanout -r ignored -c 2 -- sh -c 'cat; echo "|"' >"$WORK/fanout.out" 2>"$WORK/fanout.err" &
FANOUT=$!
consume -e amq.topic -r 'conf.*.x' -c 2 -- sh -c 'cat; echo "|"' >"$WORK/topic.out" 2>"$WORK/topic.err" &
TOPIC=$!
sleep 1
publish -e amq.fanout -r anything -b f1 >/dev/null
publish -e amq.fanout -r other -b f2 >/dev/null
publish -e amq.topic -r conf.a.x -b t1 >/dev/null
publish -e amq.topic -r conf.b.y -b t-unrouted >/dev/null
publish -e amq.topic -r conf.c.x -b t2 >/dev/null
wait $FANOUT $TOPIC
  check 'fanout to exclusive bound queue' 'f1|f2|' "$(tr -d '\n' <"$WORK/fanout.out")"
  check 'topic pattern conf.*.x routes 2 of 3' 't1|t2|' "$(tr -d '\n' <"$WORK/topic.out")"

publish -r $Q -b keep >/dev/null
  check 'delete-queue --if-empty on non-empty queue fails' failed "$(delete_q -e -q $Q >/dev/null && echo ok || echo failed)"
  check 'message survives refused delete' keep "$(get -q $Q 2>&1)"
  check 'delete-queue' ok "$(delete_q -q $Q >/dev/null && echo ok || echo failed)"
  check 'get from deleted queue fails' nonzero "$(get -q $Q >/dev/null 2>&1 && echo zero || echo nonzero)"
  check 'delete-queue durable' ok "$(delete_q -q conf.tools.durable >/dev/null && echo ok || echo failed)"
for q in conf.tools.lines conf.tools.big conf.tools.prefetch conf.tools.noack; do delete_q -q $q >/dev/null 2>&1; done
exit 0
