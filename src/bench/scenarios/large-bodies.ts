/** 4 KB and 1 MB bodies end to end (transient, no confirms, auto-ack): bandwidth rather than rate. */
import { latencyFigures, measureFlow } from '../measure-flow.js';
import type { Figures, Scenario, ScenarioContext } from '../scenario.js';

const SIZES: { label: string; bytes: number; key: string }[] = [
  { label: '4 KB', bytes: 4 * 1024, key: 'kb4' },
  { label: '1 MB', bytes: 1024 * 1024, key: 'mb1' },
];
/** Bytes a publisher may be ahead of its consumer. */
const IN_FLIGHT_BYTES = 32 * 1024 * 1024;
/** Count-bound runs send this many times fewer 1 MB messages than 4 KB ones. */
const LARGE_COUNT_DIVISOR = 64;

async function runSize(ctx: ScenarioContext, bytes: number, label: string): Promise<Figures> {
  const { options } = ctx;
  const pubConn = await ctx.connect(`${label} publisher`);
  const subConn = await ctx.connect(`${label} consumer`);
  const pub = await pubConn.createChannel();
  const sub = await subConn.createChannel();
  const queue = ctx.name(`large-${bytes}`);
  await pub.queueDeclare(queue, { durable: false });
  const count =
    options.messages === undefined
      ? undefined
      : bytes > 64 * 1024
        ? Math.max(1, Math.ceil(options.messages / LARGE_COUNT_DIVISOR))
        : options.messages;
  try {
    const r = await measureFlow(ctx, {
      phase: label,
      publishers: [
        {
          connection: pubConn,
          channel: pub,
          exchange: '',
          routingKey: queue,
          consumers: [{ channel: sub, queue }],
        },
      ],
      bodySize: bytes,
      persistent: false,
      confirmWindow: 0,
      noAck: true,
      inFlightPerPublisher: Math.max(2, Math.min(options.inFlight, Math.floor(IN_FLIGHT_BYTES / bytes))),
      totalMessages: count,
      durationMs: Math.max(1, Math.floor(options.durationMs / 2)),
    });
    return {
      deliverMsgPerSec: r.deliverMsgPerSec,
      miBPerSec: (r.deliverMsgPerSec * bytes) / (1024 * 1024),
      ...latencyFigures('latency', r.latency),
    };
  } finally {
    await pub.queueDelete(queue);
  }
}

export const largeBodiesScenario: Scenario = {
  id: 'large',
  title: '4 KB and 1 MB bodies, 1 -> 1, transient, auto-ack',
  async run(ctx) {
    const figures: Figures = {};
    for (const s of SIZES) {
      const f = await runSize(ctx, s.bytes, s.label);
      for (const [k, v] of Object.entries(f)) figures[`${s.key}${k[0].toUpperCase()}${k.slice(1)}`] = v;
    }
    return figures;
  },
};
