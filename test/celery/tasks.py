"""Celery application for the conformance check (run_celery_check.py starts a worker on it).

It uses what a typical Celery deployment leans on: late acks, retries with a countdown, ETA tasks,
groups and chains, priority queues, topic-exchange routing, and the rpc:// result backend (results come back as AMQP messages on a reply queue).
Needs Celery 5 (Debian: python3-celery). Settings come from the environment so the checker and the
worker agree: CELERY_BROKER_URL, CELERY_CHECK_STATE (a folder for the crash-once marker)."""

import os
import time

from celery import Celery
from kombu import Exchange, Queue

app = Celery('conformance')
app.conf.update(
    broker_url=os.environ.get('CELERY_BROKER_URL', 'amqp://guest:guest@127.0.0.1:5672//'),
    result_backend='rpc://',
    task_acks_late=True,
    # One unacked task at a time, so a crashed worker leaves exactly one message to redeliver.
    worker_prefetch_multiplier=1,
    task_serializer='json',
    result_serializer='json',
    accept_content=['json'],
    broker_connection_timeout=5,
    worker_send_task_events=False,
    task_queues=(
        Queue('celery'),
        # A priority queue (x-max-priority): higher priorities are delivered first.
        Queue('conformance.priority', Exchange('conformance.priority', type='direct'),
              routing_key='conformance.priority', queue_arguments={'x-max-priority': 10}),
        # Reached through a topic exchange binding, not the default exchange.
        Queue('conformance.routed', Exchange('conformance.topic', type='topic'), routing_key='routed.#'),
    ),
    task_routes={'tasks.routed_add': {'exchange': 'conformance.topic', 'routing_key': 'routed.add.now'}},
)

STATE_DIR = os.environ.get('CELERY_CHECK_STATE', '/tmp')
FLAKY_FAILURES = 2


@app.task
def add(x, y):
    return x + y


@app.task
def square(x):
    return x * x


@app.task(bind=True, max_retries=5)
def flaky(self, label):
    """Fails FLAKY_FAILURES times, asking to be retried one second later, then succeeds."""
    if self.request.retries < FLAKY_FAILURES:
        raise self.retry(exc=RuntimeError(f'{label}: planned failure {self.request.retries + 1}'), countdown=1)
    return {'label': label, 'retries': self.request.retries}


@app.task
def routed_add(x, y):
    return x + y


@app.task
def report_time(label):
    """Returns when it ran, to check a countdown was honoured."""
    return {'label': label, 'ran_at': time.time()}


@app.task(bind=True)
def crash_once(self, token):
    """Kills the worker the first time it runs; with late acks the broker must redeliver it."""
    marker = os.path.join(STATE_DIR, f'crashed-{token}')
    if not os.path.exists(marker):
        with open(marker, 'w') as handle:
            handle.write('crashed')
        os._exit(17)
    return {'token': token, 'redelivered': bool((self.request.delivery_info or {}).get('redelivered'))}
