/**
 * One torture cycle: start the broker on the run's data directory, reconcile the topology, run consumers,
 * publishers and admin chaos, then kill -9 the broker at a random moment and account for everything that
 * was left in flight.
 */
import { sleep } from '../helpers/amqp-client.js';
import { Admin } from './admin.js';
import { ConsumerPool } from './consumer-pool.js';
import type { Ledger } from './ledger.js';
import { Publisher } from './publisher.js';
import type { Rng } from './rng.js';
import { type BrokerLogSink, startTortureBroker } from './torture-broker.js';

export interface RunContext {
  ledger: Ledger;
  rng: Rng;
  dataDir: string;
  segmentMaxBytes: number;
  brokerLog: BrokerLogSink;
  log: (line: string) => void;
  /** Called with a kill function while a broker runs, undefined once it is gone (for Ctrl-C). */
  setCurrentKill: (kill: (() => Promise<void>) | undefined) => void;
  startMs: number[];
}

const MAX_BACKLOG = 20_000;
const UNCONSUMED_SHARE = 0.25;
const SETTLE_TIMEOUT_MS = 10_000;

export async function runCycle(ctx: RunContext, cycle: number, msLeft: number): Promise<void> {
  const { ledger, rng } = ctx;
  const tb = await startTortureBroker(ctx.dataDir, ctx.segmentMaxBytes, ctx.brokerLog);
  ctx.setCurrentKill(() => tb.kill9());
  ctx.startMs.push(tb.startMs);
  ledger.startLife(false);
  ledger.c.cycles += 1;
  const before = { ...ledger.c };
  const url = tb.broker.url;

  const admin = new Admin(url, ledger, rng, ctx.log);
  let killing = false;
  const actors: Promise<void>[] = [];
  const publishers: Publisher[] = [];
  const pool = new ConsumerPool({
    url,
    ledger,
    rng,
    connections: 2,
    nackRate: 0.03,
    delayedAckRate: 0.1,
    prefetchMin: 1,
    prefetchMax: 64,
    proveEveryMs: 50,
  });
  let backlog = 0;
  let runMs = 0;
  let resubscribe: NodeJS.Timeout | undefined;
  try {
    await admin.open();
    backlog = await admin.prepare();
    await pool.start();
    // Some queues go unconsumed for a cycle, so purges find messages and backlogs cross kills.
    const unconsumed = new Map<string, boolean>();
    const liveNames = (): string[] =>
      ledger
        .queuesIn('live')
        .map((q) => q.name)
        .filter((name) => {
          if (!unconsumed.has(name)) unconsumed.set(name, rng.chance(UNCONSUMED_SHARE));
          return unconsumed.get(name) === false;
        });
    await pool.subscribeAll(liveNames());

    const paused = (): boolean =>
      backlog + (ledger.c.copiesRouted - before.copiesRouted) - (ledger.c.acksSent - before.acksSent) >
      MAX_BACKLOG;
    const publisherCount = rng.int(2, 3);
    for (let i = 0; i < publisherCount; i++) {
      const p = new Publisher({ url, cycle, index: i, ledger, rng, window: rng.int(8, 128), paused });
      publishers.push(p);
      actors.push(p.run());
    }
    actors.push(
      admin.chaos(
        () => killing,
        () => void pool.subscribeAll(liveNames()),
      ),
    );
    // Resubscribe now and then: a consumer whose subscribe raced a delete, or a queue made live later.
    resubscribe = setInterval(() => void pool.subscribeAll(liveNames()), 500);

    runMs = Math.max(200, Math.min(rng.int(500, 4000), msLeft));
    await sleep(runMs);
    if (tb.crashed()) throw new Error('broker exited by itself during the cycle');
  } finally {
    clearInterval(resubscribe);
    killing = true;
    await tb.kill9();
    ctx.setCurrentKill(undefined);
    for (const p of publishers) p.stop();
    await settle(actors);
    await pool.close();
    await admin.close();
    ledger.afterKill();
  }
  const d = (k: keyof typeof before): number => ledger.c[k] - before[k];
  ctx.log(
    `cycle ${cycle}: start ${tb.startMs} ms, backlog ${backlog}, killed after ${runMs} ms; ` +
      `sent ${d('sent')} (confirmed ${d('confirmed')}, nacked ${d('nacked')}, unconfirmed ${d('unconfirmed')}), ` +
      `delivered ${d('deliveries')}, acked ${d('acksSent')} (proven ${d('acksProven')}), ` +
      `purges ${d('purges')}, creates ${d('queueCreates')}, deletes ${d('queueDeletes')}, ` +
      `ledger ${ledger.msgs.size} open, heap ${Math.round(process.memoryUsage().heapUsed / 2 ** 20)} MiB` +
      `${d('phantom') + d('corrupt') + d('misrouted') + d('doubleDeliveries') > 0 ? ' [ANOMALIES]' : ''}`,
  );
}

/** Waits for the actors to notice the dead broker, but not forever. */
async function settle(actors: Promise<void>[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled(actors),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, SETTLE_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timer);
}
