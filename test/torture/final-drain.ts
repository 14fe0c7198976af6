/**
 * The end of a run: restart the broker after the last kill, drain every queue with manual acks (all
 * proven), check the queues are empty, stop the broker gracefully, start it once more and check that they
 * are still empty and that no deleted queue came back.
 */
import { sleep } from '../helpers/amqp-client.js';
import { Admin } from './admin.js';
import { ConsumerPool } from './consumer-pool.js';
import type { RunContext } from './cycle.js';
import { startTortureBroker } from './torture-broker.js';

const DRAIN_LIMIT_MS = 180_000;
const POLL_MS = 300;

export async function finalDrainAndVerify(ctx: RunContext): Promise<void> {
  const { ledger } = ctx;
  await oneLife(ctx, false, async (admin, pool) => {
    const left = await drain(ctx, admin, pool);
    ledger.c.leftoverAfterDrain = left;
    ctx.log(
      `final drain: ${left === 0 ? 'every queue empty' : `${left} messages left after ${DRAIN_LIMIT_MS} ms`}`,
    );
  });
  await oneLife(ctx, true, async (admin, pool) => {
    await admin.checkAllDeleted();
    let left = 0;
    for (const q of ledger.queuesIn('live')) left += (await admin.probe(q.name)) ?? 0;
    ledger.c.leftoverAfterCleanRestart = left;
    if (left > 0) {
      ledger.sample(`${left} messages back in the queues after drain + graceful stop + restart`);
      await drain(ctx, admin, pool);
    }
    ctx.log(`after graceful restart: ${left} messages in the queues`);
  });
}

/** Starts the broker, reconciles, runs `body` with an admin and a plain acking consumer pool, stops it gracefully. */
async function oneLife(
  ctx: RunContext,
  previousStopClean: boolean,
  body: (admin: Admin, pool: ConsumerPool) => Promise<void>,
): Promise<void> {
  const { ledger, rng } = ctx;
  const tb = await startTortureBroker(ctx.dataDir, ctx.segmentMaxBytes, ctx.brokerLog);
  ctx.setCurrentKill(() => tb.kill9());
  ctx.startMs.push(tb.startMs);
  ledger.startLife(previousStopClean);
  const admin = new Admin(tb.broker.url, ledger, rng, ctx.log);
  const pool = new ConsumerPool({
    url: tb.broker.url,
    ledger,
    rng,
    connections: 1,
    nackRate: 0,
    delayedAckRate: 0,
    prefetchMin: 50,
    prefetchMax: 200,
    proveEveryMs: 20,
  });
  try {
    await admin.open();
    await admin.prepare();
    await pool.start();
    await body(admin, pool);
  } finally {
    await pool.close();
    await admin.close();
    const code = await tb.stop();
    ctx.setCurrentKill(undefined);
    if (code !== 0) ledger.sample(`graceful stop exited with code ${code}`);
  }
}

/** Consumes every live queue until all are empty twice in a row with nothing held; returns what is left. */
async function drain(ctx: RunContext, admin: Admin, pool: ConsumerPool): Promise<number> {
  const deadline = Date.now() + DRAIN_LIMIT_MS;
  let emptyPolls = 0;
  let left = 0;
  while (Date.now() < deadline) {
    await pool.subscribeAll(ctx.ledger.queuesIn('live').map((q) => q.name));
    await sleep(POLL_MS);
    left = 0;
    for (const q of ctx.ledger.queuesIn('live')) left += (await admin.probe(q.name)) ?? 0;
    emptyPolls = left === 0 && pool.busy === 0 ? emptyPolls + 1 : 0;
    if (emptyPolls >= 2) return 0;
  }
  return left + pool.busy;
}
