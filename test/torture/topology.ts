/**
 * What the torture run believes the broker's topology is: its durable exchanges, the stable queues that
 * live for the whole run, the dynamic ones created and deleted at random, their bindings, and how a
 * publish is routed. Every uncertain step (a declare, bind or delete whose reply has not arrived) is
 * modelled, so routing can say whether a queue certainly gets a message or only maybe.
 */

export const DIRECT_EXCHANGE = 'torture.direct';
export const TOPIC_EXCHANGE = 'torture.topic';
export const DEFAULT_EXCHANGE = '';

export const DIRECT_KEYS = ['a', 'b', 'c'] as const;
export const TOPIC_KEYS = ['t', 't.x', 't.y.x', 't.y.z', 'u.y.x', 'u.y', 't.q.r.s'] as const;
export const DYNAMIC_BINDINGS: readonly BindingSpec[] = [
  { exchange: TOPIC_EXCHANGE, pattern: 't.#' },
  { exchange: TOPIC_EXCHANGE, pattern: '*.y.*' },
  { exchange: TOPIC_EXCHANGE, pattern: '#' },
  { exchange: TOPIC_EXCHANGE, pattern: 't.*' },
  { exchange: DIRECT_EXCHANGE, pattern: 'a' },
  { exchange: DIRECT_EXCHANGE, pattern: 'c' },
];

export interface BindingSpec {
  exchange: string;
  pattern: string;
}

export const STABLE_QUEUES: ReadonlyArray<{ name: string; bindings: BindingSpec[] }> = [
  { name: 'torture.s0', bindings: [{ exchange: DIRECT_EXCHANGE, pattern: 'a' }] },
  {
    name: 'torture.s1',
    bindings: [
      { exchange: DIRECT_EXCHANGE, pattern: 'a' },
      { exchange: DIRECT_EXCHANGE, pattern: 'b' },
    ],
  },
  { name: 'torture.s2', bindings: [{ exchange: TOPIC_EXCHANGE, pattern: 't.#' }] },
  {
    name: 'torture.s3',
    bindings: [
      { exchange: TOPIC_EXCHANGE, pattern: 't.*.x' },
      { exchange: DIRECT_EXCHANGE, pattern: 'b' },
    ],
  },
];

export interface Binding extends BindingSpec {
  /** bind-ok arrived: every publish sent afterwards is routed through it. */
  proven: boolean;
}

/**
 * declaring: declare sent, no reply yet (the queue may or may not exist);
 * live: declare-ok arrived; deleting: delete sent, no reply yet; deleted: delete-ok arrived (or it never existed).
 */
export type QueueState = 'declaring' | 'live' | 'deleting' | 'deleted';

export class QueueRec {
  state: QueueState = 'declaring';
  readonly bindings: Binding[] = [];
  /** A delete was sent at some point: every copy routed here is exempt from the missing check. */
  deleteStarted = false;
  /** Broker life in which the delete-ok arrived. */
  deletedLife = 0;
  /** Messages with a send sequence below this may have been purged. */
  purgeSeq = 0;
  purgeInFlight = false;
  purges = 0;

  constructor(
    readonly name: string,
    readonly stable: boolean,
    /** Send sequence when the runner first declared it: messages sent earlier cannot be in it. */
    readonly createdSeq: number,
  ) {}

  get exists(): boolean {
    return this.state === 'live';
  }
}

/** AMQP topic matching: words split on '.', '*' is exactly one word, '#' is zero or more. */
export function topicMatches(pattern: string, key: string): boolean {
  return matchWords(pattern.split('.'), 0, key === '' ? [] : key.split('.'), 0);
}

function matchWords(p: string[], pi: number, k: string[], ki: number): boolean {
  if (pi === p.length) return ki === k.length;
  const word = p[pi];
  if (word === '#') {
    for (let skip = ki; skip <= k.length; skip++) if (matchWords(p, pi + 1, k, skip)) return true;
    return false;
  }
  if (ki === k.length) return false;
  if (word !== '*' && word !== k[ki]) return false;
  return matchWords(p, pi + 1, k, ki + 1);
}

export function bindingMatches(b: BindingSpec, exchange: string, key: string): boolean {
  if (b.exchange !== exchange) return false;
  return exchange === TOPIC_EXCHANGE ? topicMatches(b.pattern, key) : b.pattern === key;
}

export interface RouteTarget {
  queue: QueueRec;
  /** The queue certainly got the message if the broker confirmed it; false when routing was in doubt. */
  must: boolean;
}

/** The queues a publish to (exchange, key) reaches, given the topology as known at send time. */
export function route(queues: Iterable<QueueRec>, exchange: string, key: string): RouteTarget[] {
  const targets: RouteTarget[] = [];
  for (const q of queues) {
    if (q.state === 'deleted') continue;
    const certainQueue = q.state === 'live';
    if (exchange === DEFAULT_EXCHANGE) {
      if (q.name === key) targets.push({ queue: q, must: certainQueue });
      continue;
    }
    let hit: Binding | undefined;
    for (const b of q.bindings) {
      if (bindingMatches(b, exchange, key) && (hit === undefined || b.proven)) hit = b;
    }
    if (hit !== undefined) targets.push({ queue: q, must: certainQueue && hit.proven });
  }
  return targets;
}
