/**
 * A publisher as fast as the broker allows (or at a fixed rate): publishes in synchronous batches so
 * the client coalesces them into few socket writes, and waits on socket back-pressure, the confirm
 * window, or the in-flight gate.
 */
import type { Channel } from '../client/channel.js';
import type { Connection } from '../client/connection.js';
import type { InFlightGate } from './in-flight-gate.js';
import type { Counter } from './phase-meter.js';

export interface PublisherLoopOptions {
  connection: Connection;
  channel: Channel;
  exchange: string;
  routingKey: string;
  /** Reused for every message; with `stamp`, its first 8 bytes are overwritten. */
  body: Buffer;
  rawProperties: Buffer;
  /** Max unconfirmed publishes (channel must be in confirm mode); 0 = no confirms. */
  confirmWindow: number;
  /** Write performance.now() as a float64 into the body (for latency at the consumer). */
  stamp: boolean;
  /** Stop publishing at this performance.now(). */
  deadline: number;
  maxMessages: number;
  /** Advanced by the published (or, with confirms, confirmed) messages; may be shared. */
  counter: Counter;
  gate?: InFlightGate;
  /** Fixed rate in msg/s; undefined = as fast as possible. */
  rate?: number;
  /** Called after each batch with this publisher's confirmed (or published) count. */
  onBatch?: (confirmed: number) => void;
}

const BATCH = 256;
const FIXED_RATE_TICK_MS = 2;
const GATE_MAX_WAIT_MS = 1000;

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Publishes until the deadline or maxMessages; resolves with the number published (all confirmed). */
export async function runPublisher(o: PublisherLoopOptions): Promise<number> {
  const { channel, connection, body, rawProperties, confirmWindow, stamp, gate } = o;
  const started = performance.now();
  let sent = 0;
  let reported = 0;
  const counter = o.counter;
  while (sent < o.maxMessages && performance.now() < o.deadline) {
    let quota = Math.min(BATCH, o.maxMessages - sent);
    if (o.rate !== undefined) {
      const due = Math.floor(((performance.now() - started) / 1000) * o.rate) - sent;
      if (due <= 0) {
        await sleep(FIXED_RATE_TICK_MS);
        continue;
      }
      quota = Math.min(quota, due);
    }
    let ok = true;
    for (let i = 0; i < quota; i++) {
      if (stamp) body.writeDoubleLE(performance.now(), 0);
      ok = channel.publish(o.exchange, o.routingKey, body, rawProperties);
      sent++;
      if (gate !== undefined) gate.published++;
      if (!ok) break;
      if (confirmWindow > 0 && channel.unconfirmed >= confirmWindow) break;
      if (gate?.full) break;
    }
    const done = confirmWindow > 0 ? sent - channel.unconfirmed : sent;
    counter.n += done - reported;
    reported = done;
    o.onBatch?.(done);
    if (!ok) await connection.drained();
    else if (confirmWindow > 0 && channel.unconfirmed >= confirmWindow) {
      await channel.waitForConfirms(confirmWindow >> 1);
    } else if (gate?.full) await gate.wait(GATE_MAX_WAIT_MS);
    else await immediate();
  }
  if (confirmWindow > 0) {
    await channel.waitForConfirms(0);
    counter.n += sent - reported;
    o.onBatch?.(sent);
  }
  return sent;
}
