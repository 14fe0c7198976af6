/**
 * Connections: hold N connections open at once (default 10,000), each with a channel and a consumer on
 * its own exclusive queue, heartbeats on, then measure publish -> deliver round trips one message at a
 * time on one more connection. Shows whether idle connections cost the busy one latency (heartbeat and
 * timer load), how long opening them takes and, for a broker on this machine, its memory per connection.
 */
import type { Connection } from '../../client/connection.js';
import { EMPTY_RAW_PROPERTIES } from '../../codec/basic-properties.js';
import { forEachBounded } from '../bounded-parallel.js';
import { LatencyHistogram } from '../latency-histogram.js';
import { type ProcessMemory, readProcessMemory } from '../process-memory.js';
import type { Figures, Scenario, ScenarioContext } from '../scenario.js';

const MIB = 1024 * 1024;
/** Short enough that heartbeats flow in both directions during a few seconds of measuring. */
const HEARTBEAT_SECONDS = 10;
/** Handshakes in flight at once: keeps within a default listen backlog (RabbitMQ's is 128). */
const OPEN_PARALLELISM = 100;
const CLOSE_PARALLELISM = 500;
/** A handshake may wait behind many others (password hashing, queue declares). */
const CONNECT_TIMEOUT_MS = 60_000;
/** Idle connections only send heartbeats and a few methods: a small write chunk each. */
const IDLE_WRITE_CHUNK_BYTES = 4096;
/** One delivery overdue by this much means the broker lost it or stalled. */
const ROUND_TRIP_TIMEOUT_MS = 10_000;
/** The performance target for the busy connection while all the others are open. */
const ROUND_TRIP_TARGET_P99_MS = 50;
/** Whatever is still open this long after closing began is dropped without a handshake. */
const CLOSE_DEADLINE_MS = 60_000;
/** Under this many connections the RSS growth is noise, so no per-connection memory figure is given. */
const MIN_CONNECTIONS_FOR_MEMORY_PER_CONNECTION = 1000;

/** Opens connection `index` of the fleet: one channel, one exclusive server-named queue, one consumer. */
async function openIdleConsumer(ctx: ScenarioContext, index: number): Promise<Connection> {
  const conn = await ctx.connect(`connections ${index}`, {
    heartbeat: HEARTBEAT_SECONDS,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    writeChunkSize: IDLE_WRITE_CHUNK_BYTES,
  });
  const channel = await conn.createChannel();
  const { queue } = await channel.queueDeclare('', { exclusive: true, autoDelete: true });
  await channel.consume(queue, () => {}, { noAck: true });
  return conn;
}

/** Publishes one message and waits for its delivery before sending the next; returns the histogram. */
async function measureRoundTrips(ctx: ScenarioContext, conn: Connection): Promise<LatencyHistogram> {
  const { options } = ctx;
  const channel = await conn.createChannel();
  const { queue } = await channel.queueDeclare('', { exclusive: true, autoDelete: true });
  let arrived: (() => void) | null = null;
  let failed: ((err: Error) => void) | null = null;
  await channel.consume(
    queue,
    () => {
      const resolve = arrived;
      arrived = null;
      resolve?.();
    },
    { noAck: true },
  );
  const body = Buffer.alloc(options.size ?? 16, 0x78);
  const histogram = new LatencyHistogram();
  const count = options.messages;
  const meter = ctx.phase(
    'round trip',
    count === undefined ? { durationMs: options.durationMs } : { total: count },
  );
  const done = meter.counter('round trips');
  const stall = setTimeout(() => {
    failed?.(new Error(`a round trip took longer than ${ROUND_TRIP_TIMEOUT_MS} ms`));
  }, ROUND_TRIP_TIMEOUT_MS);
  const start = performance.now();
  try {
    while (count === undefined ? performance.now() - start < options.durationMs : done.n < count) {
      const delivered = new Promise<void>((resolve, reject) => {
        arrived = resolve;
        failed = reject;
      });
      stall.refresh();
      const sentAt = performance.now();
      channel.publish('', queue, body, EMPTY_RAW_PROPERTIES);
      await delivered;
      histogram.recordMs(performance.now() - sentAt);
      done.n++;
    }
  } finally {
    clearTimeout(stall);
    meter.end();
  }
  return histogram;
}

/**
 * Closes every connection, a bounded number at a time; drops whatever is left at the deadline.
 * Resolves with the time taken and how many connections had to be dropped.
 */
async function closeAll(ctx: ScenarioContext, fleet: Connection[]): Promise<{ ms: number; dropped: number }> {
  const meter = ctx.phase('close', { total: fleet.length });
  const closed = meter.counter('connections');
  const start = performance.now();
  let dropped = 0;
  const deadline = setTimeout(() => {
    for (const c of fleet) {
      if (c.isOpen) dropped++;
      c.destroy('connections scenario: close deadline passed');
    }
  }, CLOSE_DEADLINE_MS);
  try {
    await forEachBounded(fleet.length, CLOSE_PARALLELISM, async (i) => {
      await fleet[i].close().catch(() => {});
      closed.n++;
    });
  } finally {
    clearTimeout(deadline);
    meter.end();
  }
  return { ms: performance.now() - start, dropped };
}

function memoryFigures(
  before: ProcessMemory,
  open: ProcessMemory,
  connections: number,
  figures: Figures,
): void {
  figures.brokerRssBeforeMiB = before.rssBytes / MIB;
  figures.brokerRssOpenMiB = open.rssBytes / MIB;
  figures.brokerPeakRssMiB = open.peakRssBytes / MIB;
  const growth = open.rssBytes - before.rssBytes;
  if (connections >= MIN_CONNECTIONS_FOR_MEMORY_PER_CONNECTION && growth > 0)
    figures.brokerBytesPerConnection = growth / connections;
}

export const manyConnectionsScenario: Scenario = {
  id: 'connections',
  title: 'N idle connections (heartbeats, a consumer each) while one more measures round trips',
  async run(ctx) {
    const { options } = ctx;
    const total = options.connections;
    const pid = options.brokerPid;
    const fleet: Connection[] = [];
    const figures: Figures = { connections: total };
    try {
      const before = pid === undefined ? undefined : await readProcessMemory(pid);

      const open = ctx.phase('open', { total });
      const opened = open.counter('connections');
      const openStart = performance.now();
      try {
        await forEachBounded(total, OPEN_PARALLELISM, async (i) => {
          fleet.push(await openIdleConsumer(ctx, i));
          opened.n++;
        });
      } catch (err) {
        throw new Error(`opened ${opened.n} of ${total} connections: ${(err as Error).message}`);
      } finally {
        open.end();
      }
      const openMs = performance.now() - openStart;
      figures.openMs = openMs;
      figures.openConnectionsPerSec = total / (openMs / 1000);
      figures.heartbeatSeconds = fleet[0].heartbeat;
      if (fleet[0].heartbeat === 0) ctx.note('the broker turned heartbeats off');

      const probe = await ctx.connect('connections round trip');
      const heartbeatsBefore = fleet.reduce((sum, c) => sum + c.heartbeatsReceived, 0);
      const rttStart = performance.now();
      const rtt = await measureRoundTrips(ctx, probe);
      const rttSeconds = (performance.now() - rttStart) / 1000;
      const heartbeats = fleet.reduce((sum, c) => sum + c.heartbeatsReceived, 0) - heartbeatsBefore;
      figures.roundTrips = rtt.count;
      figures.roundTripP50Ms = rtt.quantileMs(0.5);
      figures.roundTripP99Ms = rtt.quantileMs(0.99);
      figures.roundTripP999Ms = rtt.quantileMs(0.999);
      figures.roundTripMaxMs = rtt.maxMs;
      if (heartbeats > 0) figures.heartbeatsReceivedPerSec = heartbeats / rttSeconds;
      else ctx.note('no heartbeat arrived while round trips were measured (the phase was too short)');
      if (figures.roundTripP99Ms >= ROUND_TRIP_TARGET_P99_MS) {
        ctx.note(
          `round-trip p99 ${figures.roundTripP99Ms.toFixed(1)} ms misses the ${ROUND_TRIP_TARGET_P99_MS} ms target`,
        );
      }

      const lost = fleet.filter((c) => !c.isOpen).length;
      if (lost > 0) {
        figures.connectionsLost = lost;
        ctx.note(`${lost} of ${total} connections closed during the run (missed heartbeats?)`);
      }
      figures.clientRssOpenMiB = process.memoryUsage.rss() / MIB;
      const withAll = pid === undefined ? undefined : await readProcessMemory(pid);
      if (before !== undefined && withAll !== undefined) memoryFigures(before, withAll, total, figures);
      else if (pid !== undefined) ctx.note(`broker memory: /proc/${pid}/status not readable`);
    } finally {
      const { ms, dropped } = await closeAll(ctx, fleet);
      figures.closeMs = ms;
      if (dropped > 0) {
        ctx.note(
          `${dropped} connections were still closing after ${CLOSE_DEADLINE_MS / 1000} s and were dropped`,
        );
      }
    }
    return figures;
  },
};
