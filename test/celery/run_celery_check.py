"""Celery conformance check: starts a worker on tasks.py as a subprocess, submits tasks, checks every result.

Prints one 'PASS name' or 'FAIL name :: reason' line per check and exits 0 only if all passed.
Bounded in time: every wait has a limit and the whole run stops after CELERY_CHECK_TIMEOUT_S (90 s).
Run it with the Python that has Celery (Debian: /usr/bin/python3 with python3-celery), broker on
CELERY_BROKER_URL (default amqp://guest:guest@127.0.0.1:5672//)."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
TOTAL_TIMEOUT_S = int(os.environ.get('CELERY_CHECK_TIMEOUT_S', '90'))
RESULT_TIMEOUT_S = 20
COUNTDOWN_S = 2

STATE_DIR = tempfile.mkdtemp(prefix='celery-check.')
os.environ['CELERY_CHECK_STATE'] = STATE_DIR

import celery  # noqa: E402  (after the environment the app reads is set)
import celery.exceptions  # noqa: E402
from celery import chain, group  # noqa: E402

import tasks  # noqa: E402

results = []


def record(name, ok, reason=''):
    results.append(ok)
    print(f'PASS {name}' if ok else f'FAIL {name} :: {reason}', flush=True)


def check(name, fn):
    """Runs one check; any exception (timeout, broker error) is that check's failure, not the run's."""
    try:
        ok, reason = fn()
    except Exception as err:  # noqa: BLE001  (report every failure the same way)
        ok, reason = False, f'{type(err).__name__}: {err}'.splitlines()[0][:300]
    record(name, ok, reason)


class Worker:
    """A `celery worker --pool=solo` subprocess, logging to a file in the state folder."""

    def __init__(self):
        self.process = None
        self.starts = 0
        self.log_path = os.path.join(STATE_DIR, 'worker.log')

    def start(self):
        self.starts += 1
        log = open(self.log_path, 'a')
        log.write(f'--- worker start {self.starts} ---\n')
        log.flush()
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'celery', '-A', 'tasks', 'worker', '--pool=solo', '--loglevel=INFO',
             '-n', f'conformance{self.starts}@%h'],
            cwd=HERE, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, 'PYTHONPATH': HERE},
            start_new_session=True)
        log.close()

    def wait_exit(self, timeout):
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        # TERM is Celery's warm shutdown; KILL the group if it lingers.
        os.killpg(self.process.pid, signal.SIGTERM)
        if self.wait_exit(10) is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.wait_exit(5)

    def log_tail(self, lines=15):
        try:
            with open(self.log_path) as handle:
                return handle.read().splitlines()[-lines:]
        except OSError:
            return []


def check_simple_tasks():
    pending = [(i, tasks.add.delay(i, 100)) for i in range(20)]
    wrong = [(i, r.get(timeout=RESULT_TIMEOUT_S)) for i, r in pending]
    wrong = [(i, got) for i, got in wrong if got != i + 100]
    return not wrong, f'wrong results {wrong[:3]}'


def check_retry(pending):
    sent_at, result = pending
    value = result.get(timeout=RESULT_TIMEOUT_S)
    elapsed = time.time() - sent_at
    if value != {'label': 'flaky', 'retries': tasks.FLAKY_FAILURES}:
        return False, f'unexpected result {value!r}'
    # Two retries with countdown=1 each cannot finish in under two seconds.
    return elapsed >= 2.0, f'finished after {elapsed:.2f} s, expected >= 2 s'


def check_countdown(pending):
    sent_at, result = pending
    value = result.get(timeout=RESULT_TIMEOUT_S)
    delay = value['ran_at'] - sent_at
    if delay < COUNTDOWN_S:
        return False, f'ran {delay:.2f} s after submit, countdown was {COUNTDOWN_S} s'
    return delay < COUNTDOWN_S + 8, f'ran {delay:.2f} s after submit, far later than the {COUNTDOWN_S} s countdown'


def check_group():
    value = group(tasks.square.s(i) for i in range(10))().get(timeout=RESULT_TIMEOUT_S)
    expected = [i * i for i in range(10)]
    return value == expected, f'got {value!r}, expected {expected!r}'


def check_chain():
    value = chain(tasks.add.s(1, 2), tasks.add.s(10), tasks.square.s())().get(timeout=RESULT_TIMEOUT_S)
    return value == 169, f'got {value!r}, expected 169'


def submit_priority_backlog():
    """Queued before the worker consumes: low priorities first, so only the broker's ordering puts high first."""
    low = [tasks.report_time.apply_async((f'low{i}',), queue='conformance.priority', priority=1) for i in range(5)]
    high = [tasks.report_time.apply_async((f'high{i}',), queue='conformance.priority', priority=9) for i in range(5)]
    return low, high


def check_priority(backlog):
    low, high = backlog
    low_times = [r.get(timeout=RESULT_TIMEOUT_S)['ran_at'] for r in low]
    high_times = [r.get(timeout=RESULT_TIMEOUT_S)['ran_at'] for r in high]
    return max(high_times) < min(low_times), 'a priority 1 task ran before a priority 9 one'


def check_topic_routing():
    value = tasks.routed_add.delay(40, 2).get(timeout=RESULT_TIMEOUT_S)
    return value == 42, f'got {value!r}, expected 42'


def check_result_states():
    result = tasks.add.delay(2, 3)
    value = result.get(timeout=RESULT_TIMEOUT_S)
    return (value, result.state) == (5, 'SUCCESS'), f'got {value!r} in state {result.state}'


def check_crash_redelivery(worker):
    token = uuid.uuid4().hex
    result = tasks.crash_once.delay(token)
    code = worker.wait_exit(RESULT_TIMEOUT_S)
    if code is None:
        return False, 'worker did not run crash_once (still alive)'
    worker.start()
    try:
        value = result.get(timeout=RESULT_TIMEOUT_S)
    except celery.exceptions.TimeoutError:
        return False, f'no result after the worker restart; broker says {queue_depth()}'
    if value.get('token') != token:
        return False, f'unexpected result {value!r}'
    return value.get('redelivered') is True, f'redelivered flag not set on the second delivery: {value!r}'


def queue_depth(queue='celery'):
    """Ready messages and consumers on a queue, from a passive declare: tells 'lost' from 'not delivered'."""
    try:
        with tasks.app.connection_for_write() as conn:
            _, messages, consumers = conn.default_channel.queue_declare(queue, passive=True)
        return f'{queue!r} holds {messages} ready message(s), {consumers} consumer(s)'
    except Exception as err:  # noqa: BLE001  (diagnostic only)
        return f'passive declare of {queue!r} failed: {err}'


def check_control_ping():
    # Broadcast over the celery.pidbox fanout exchange; replies come back on a reply queue.
    replies = tasks.app.control.ping(timeout=3)
    return bool(replies), f'no worker answered ping: {replies!r}'


class OverallTimeout(BaseException):
    """Raised by the alarm; a BaseException so that check() does not swallow it and carry on."""


def on_total_timeout(signum, frame):
    raise OverallTimeout(f'the whole check exceeded {TOTAL_TIMEOUT_S} s')


def main():
    print(f'celery {celery.__version__} on Python {sys.version.split()[0]}, broker {tasks.app.conf.broker_url}',
          flush=True)
    signal.signal(signal.SIGALRM, on_total_timeout)
    signal.alarm(TOTAL_TIMEOUT_S)
    worker = Worker()
    try:
        priority_backlog = submit_priority_backlog()
        worker.start()
        # Submitted before the worker is up: the broker must hold them until it consumes.
        retry_pending = (time.time(), tasks.flaky.delay('flaky'))
        countdown_sent = time.time()
        countdown_pending = (countdown_sent, tasks.report_time.apply_async(('countdown',), countdown=COUNTDOWN_S))
        check('20 simple tasks, results over rpc://', check_simple_tasks)
        check('result state SUCCESS', check_result_states)
        check('task fails twice then succeeds via self.retry(countdown=1)', lambda: check_retry(retry_pending))
        check(f'apply_async(countdown={COUNTDOWN_S}) runs no earlier', lambda: check_countdown(countdown_pending))
        check('group of 10', check_group)
        check('chain of 3', check_chain)
        check('priority queue (x-max-priority): priority 9 before 1', lambda: check_priority(priority_backlog))
        check('routing through a topic exchange binding', check_topic_routing)
        check('control ping (pidbox broadcast)', check_control_ping)
        # Last: it kills and restarts the worker.
        check('late ack: worker killed mid-task, task redelivered to a new worker',
              lambda: check_crash_redelivery(worker))
    except OverallTimeout as err:
        record('overall time limit', False, str(err))
    finally:
        signal.alarm(0)
        worker.stop()
    passed = bool(results) and all(results)
    if passed:
        shutil.rmtree(STATE_DIR, ignore_errors=True)
    else:
        print('worker log tail:', *worker.log_tail(), sep='\n  ', flush=True)
    print(f'celery check: {sum(results)} passed, {len(results) - sum(results)} failed'
          + ('' if passed else f' (worker log: {worker.log_path})'))
    return 0 if passed else 1


if __name__ == '__main__':
    sys.exit(main())
