# shellcheck shell=bash
# common.sh: sourced by the run-*.sh conformance scripts. Resolves where things live and which broker to start.
#
# Environment (all optional):
#   EVENTTERMQ_ROOT   project root (default: two levels above this folder)
#   CONFORMANCE_DIR   where the public suites are unpacked (default: /tmp/conformance)
#   SHARED_TOOLS      folder holding netns-run.sh and rabbitmq-start.sh (default: /work/shared/tools)
#   RESULTS_DIR       where logs and JUnit files go (default: $CONFORMANCE_DIR/results)
#   BROKER_WAIT_S     seconds to wait for the broker to listen (default: 60)
#   EVENTTERMQ_ARGS   extra arguments appended to the default EventterMQ server command

CONFORMANCE_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EVENTTERMQ_ROOT="${EVENTTERMQ_ROOT:-$(cd "$CONFORMANCE_SCRIPTS/../.." && pwd)}"
CONFORMANCE_DIR="${CONFORMANCE_DIR:-/tmp/conformance}"
SHARED_TOOLS="${SHARED_TOOLS:-/work/shared/tools}"
RESULTS_DIR="${RESULTS_DIR:-$CONFORMANCE_DIR/results}"
BROKER_WAIT_S="${BROKER_WAIT_S:-60}"
AMQP_PORT=5672
mkdir -p "$RESULTS_DIR"

# resolve_broker [BROKER_CMD]: sets BROKER_CMD (the shell command that starts the broker in the foreground)
# and BROKER_LABEL (a short name for result files). Accepts 'rabbitmq', 'eventtermq', empty, or any command.
resolve_broker() {
  local requested="${1:-${BROKER_CMD:-eventtermq}}"
  case "$requested" in
    rabbitmq)
      BROKER_LABEL=rabbitmq
      BROKER_CMD="$SHARED_TOOLS/rabbitmq-start.sh $AMQP_PORT"
      ;;
    eventtermq | '')
      BROKER_LABEL=eventtermq
      local main_js="$EVENTTERMQ_ROOT/dist/src/cli/main.js"
      if [[ ! -f "$main_js" ]]; then
        echo "EventterMQ is not built: $main_js is missing (cd $EVENTTERMQ_ROOT && npx tsc -p tsconfig.json)" >&2
        return 2
      fi
      # mktemp is quoted so it runs when the broker starts: every run gets an empty data folder.
      BROKER_CMD="node $main_js server --data-dir \$(mktemp -d /tmp/eventtermq-conf.XXXX) --http-port 0 ${EVENTTERMQ_ARGS:-}"
      ;;
    *)
      BROKER_LABEL=custom
      BROKER_CMD="$requested"
      ;;
  esac
}

# run_in_netns TEST_COMMAND: starts $BROKER_CMD and runs the test in a private loopback; returns the test's status.
run_in_netns() {
  "$SHARED_TOOLS/netns-run.sh" "$BROKER_CMD" "$1" "$AMQP_PORT" "$BROKER_WAIT_S"
}

# print_result SUITE PASS FAIL [EXPECTED] [NOTE]: the one line run-all.sh collects; the exit status says whether
# all passed. When a suite dies early its report lists fewer cases than EXPECTED: the missing ones count as failed.
print_result() {
  local suite="$1" pass="${2:-0}" fail="${3:-0}" expected="${4:-0}" note="${5:-}"
  local seen=$((pass + fail))
  if ((expected > seen)); then
    note="${note:+$note,}not_run=$((expected - seen))"
    fail=$((expected - pass))
  fi
  echo "RESULT suite=$suite broker=$BROKER_LABEL pass=$pass fail=$fail total=$((pass + fail))${note:+ note=$note}"
  [[ "$fail" == 0 && "$pass" -gt 0 ]]
}

# run_junit_suite SUITE TEST_CMD LOG XML EXPECTED: runs a suite that writes a JUnit report, prints each failure
# (FAIL name :: first error line) and the RESULT line; the exit status says whether everything passed.
run_junit_suite() {
  local suite="$1" test_cmd="$2" log="$3" xml="$4" expected="$5"
  run_in_netns "$test_cmd" >"$log" 2>&1
  local rc=$?
  if [[ ! -s "$xml" ]]; then
    tail -20 "$log"
    print_result "$suite" 0 0 "$expected" "no-report(rc=$rc,log=$log)"
    return 1
  fi
  local summary pass fail
  summary="$(python3 "$CONFORMANCE_SCRIPTS/summarise-junit.py" "$xml")"
  grep '^FAIL ' <<<"$summary"
  pass=$(sed -n 's/^COUNTS pass=\([0-9]*\).*/\1/p' <<<"$summary")
  fail=$(sed -n 's/^COUNTS .*fail=\([0-9]*\).*/\1/p' <<<"$summary")
  echo "(log: $log, junit: $xml)"
  print_result "$suite" "$pass" "$fail" "$expected"
}
