/** The ledger as a readable table on stdout, followed by one JSON line with every number. */
import type { Ledger } from './ledger.js';
import type { BrokerLogSink } from './torture-broker.js';
import type { Verdict } from './verdict.js';

export interface ReportInput {
  seed: number;
  minutes: number;
  segmentMaxBytes: number;
  dataDir: string;
  elapsedMs: number;
  aborted: string | undefined;
  ledger: Ledger;
  verdict: Verdict | undefined;
  brokerLog: BrokerLogSink;
  startMs: number[];
}

type Row = [label: string, value: number | string, note?: string];

export function printReport(r: ReportInput): void {
  const c = r.ledger.c;
  const v = r.verdict;
  const maxStart = r.startMs.length === 0 ? 0 : Math.max(...r.startMs);
  const avgStart =
    r.startMs.length === 0 ? 0 : Math.round(r.startMs.reduce((a, b) => a + b, 0) / r.startMs.length);
  const rows: Row[] = [
    ['seed', r.seed],
    ['cycles (kill -9)', `${c.cycles} (${c.kills})`],
    ['broker starts', r.startMs.length, `avg ${avgStart} ms, max ${maxStart} ms to listening`],
    ['published', c.sent],
    ['confirmed', c.confirmed],
    ['nacked', c.nacked, 'maybe'],
    ['unconfirmed at kill', c.unconfirmed, 'maybe'],
    ['copies routed', c.copiesRouted, `${c.copiesInDoubt} routed while a declare/bind was in flight`],
    ['confirmed, unroutable', v?.unroutable ?? '-'],
    ['deliveries', c.deliveries, `${v?.uniqueDelivered ?? '-'} distinct ids`],
    ['acks sent / proven', `${c.acksSent} / ${c.acksProven}`],
    ['nack+requeue', c.requeues],
    ['purges / queue creates / deletes', `${c.purges} / ${c.queueCreates} / ${c.queueDeletes}`],
    [
      'confirmed copies (acked)',
      v === undefined ? '-' : `${v.expectedCopies} (${v.settledCopies})`,
      'certainly routed; the rest must be exempt',
    ],
    ['  never acked: queue deleted', v?.exemptDeleted ?? '-', 'exempt'],
    [
      '  never acked: maybe purged',
      v === undefined ? '-' : `${v.exemptPurged} (${v.exemptPurgedDelivered} delivered)`,
      'exempt',
    ],
    ['unconfirmed but delivered', v?.unconfirmedDelivered ?? '-', 'fine'],
    ['MISSING', v?.missing ?? '-', 'confirmed, never delivered: must be 0'],
    ['LOST AFTER DELIVERY', v?.lostAfterDelivery ?? '-', 'delivered, never acked, then gone: must be 0'],
    ['PHANTOM', c.phantom, 'never published: must be 0'],
    ['corrupt', c.corrupt, 'body/messageId differs: must be 0'],
    ['misrouted', c.misrouted, 'must be 0'],
    ['redelivered after nack', c.redeliveredAfterNack, 'expected'],
    ['redelivered after channel close', c.redeliveredAfterChannelClose, 'expected'],
    ['redelivered after kill (unacked)', c.redeliveredAfterKill, 'expected'],
    ['redelivered after kill (ack in flight)', c.ackInFlightRedelivered, 'allowed'],
    ['duplicates (proven ack, across kill)', c.duplicates, 'allowed, at-least-once'],
    ['duplicates after graceful stop', c.duplicatesAfterCleanStop, 'must be 0'],
    ['double deliveries (same life)', c.doubleDeliveries, 'must be 0'],
    ['redeliveries without redelivered flag', c.redeliveryWithoutFlag, 'info'],
    ['left after final drain', c.leftoverAfterDrain, 'must be 0'],
    ['left after graceful restart', c.leftoverAfterCleanRestart, 'must be 0'],
    ['queues lost / resurrected', `${c.lostQueues} / ${c.resurrectedQueues}`, 'must be 0'],
    ['exchanges lost', c.lostExchanges, 'must be 0'],
    ['broker warn/error log lines', r.brokerLog.warnings],
    ['runner errors', c.runnerErrors],
  ];
  const width = Math.max(...rows.map((row) => row[0].length));
  const valueWidth = Math.max(...rows.map((row) => String(row[1]).length));
  const out: string[] = ['', `EventterMQ torture ledger (${(r.elapsedMs / 1000).toFixed(0)} s)`, ''];
  for (const [label, value, note] of rows) {
    out.push(`  ${label.padEnd(width)}  ${String(value).padStart(valueWidth)}${note ? `  ${note}` : ''}`);
  }
  if (r.ledger.samples.length > 0) {
    out.push('', 'samples:');
    for (const s of r.ledger.samples) out.push(`  ${s}`);
  }
  if (r.brokerLog.kept.length > 0) {
    out.push('', 'broker warnings/errors (first few):');
    for (const s of r.brokerLog.kept) out.push(`  ${s}`);
  }
  const failures = [...(v?.failures ?? []), ...(r.aborted === undefined ? [] : [`aborted: ${r.aborted}`])];
  out.push('', failures.length === 0 ? 'RESULT: PASS' : `RESULT: FAIL (${failures.join('; ')})`);
  out.push(
    `reproduce: npm run torture -- --minutes ${r.minutes} --seed ${r.seed} --segment-max-bytes ${r.segmentMaxBytes}`,
  );
  out.push('');
  const json = {
    ok: failures.length === 0,
    seed: r.seed,
    minutes: r.minutes,
    segmentMaxBytes: r.segmentMaxBytes,
    elapsedMs: r.elapsedMs,
    dataDir: r.dataDir,
    aborted: r.aborted ?? null,
    ...c,
    ...(v === undefined ? {} : { ...v, failures: undefined }),
    failures,
    brokerStartsMs: { count: r.startMs.length, avg: avgStart, max: maxStart },
  };
  process.stdout.write(`${out.join('\n')}${JSON.stringify(json)}\n`);
}
