/**
 * The final judgement over the ledger: every copy of a confirmed message that was certainly routed to a
 * queue, and not exempted by a delete of that queue or a purge it may have fallen under, must have been
 * delivered and acked.
 */
import type { Ledger, Msg } from './ledger.js';

export interface Verdict {
  expectedCopies: number;
  settledCopies: number;
  missing: number;
  lostAfterDelivery: number;
  exemptDeleted: number;
  exemptPurged: number;
  exemptPurgedDelivered: number;
  inDoubtCopies: number;
  unconfirmedDelivered: number;
  uniqueDelivered: number;
  unroutable: number;
  failures: string[];
}

export function emptyVerdict(): Verdict {
  return {
    expectedCopies: 0,
    settledCopies: 0,
    missing: 0,
    lostAfterDelivery: 0,
    exemptDeleted: 0,
    exemptPurged: 0,
    exemptPurgedDelivered: 0,
    inDoubtCopies: 0,
    unconfirmedDelivered: 0,
    uniqueDelivered: 0,
    unroutable: 0,
    failures: [],
  };
}

/** Adds one message's copies to `v`; a description of each missing or lost copy goes to `samples`. */
function judge(msg: Msg, v: Verdict, samples: string[]): void {
  if (msg.copies.some((c) => c.deliveries > 0)) v.uniqueDelivered += 1;
  if (msg.confirm === 'confirmed' && msg.copies.length === 0) v.unroutable += 1;
  for (const copy of msg.copies) {
    const q = copy.queue;
    if (msg.confirm !== 'confirmed') {
      if (copy.deliveries > 0) v.unconfirmedDelivered += 1;
      continue;
    }
    if (!copy.must) {
      v.inDoubtCopies += 1;
      continue;
    }
    v.expectedCopies += 1;
    if (copy.state === 'ackSent' || copy.state === 'ackProven') {
      v.settledCopies += 1;
      continue;
    }
    // Never settled: fine only if its queue was deleted or a purge may have taken it.
    if (q.deleteStarted) {
      v.exemptDeleted += 1;
      continue;
    }
    if (msg.seq < q.purgeSeq) {
      v.exemptPurged += 1;
      if (copy.deliveries > 0) v.exemptPurgedDelivered += 1;
      continue;
    }
    const what = copy.deliveries === 0 ? 'missing' : 'lost after delivery';
    if (copy.deliveries === 0) v.missing += 1;
    else v.lostAfterDelivery += 1;
    if (samples.length < 10) {
      samples.push(
        `${what}: id ${msg.id} queue ${q.name} (sent in life ${msg.life}, seq ${msg.seq}, ` +
          `queue purged ${q.purges}x up to seq ${q.purgeSeq}, deliveries ${copy.deliveries}, state ${copy.state})`,
      );
    }
  }
}

/**
 * Between cycles (after a kill, nothing in flight): judges and drops every message whose fate is final —
 * answered, and each copy acked with proof or in a queue whose delete-ok arrived — keeping only its size,
 * so a long run's ledger stays small. `acc` collects their judgement.
 */
export function retireSettled(ledger: Ledger, acc: Verdict): void {
  const found: string[] = [];
  for (const [id, msg] of ledger.msgs) {
    if (msg.confirm === 'pending') continue;
    if (!msg.copies.every((c) => c.state === 'ackProven' || c.queue.state === 'deleted')) continue;
    judge(msg, acc, found);
    ledger.msgs.delete(id);
    ledger.retired.set(id, msg.size);
  }
  ledger.samples.push(...found.slice(0, Math.max(0, 80 - ledger.samples.length)));
}

export function computeVerdict(ledger: Ledger, retired: Verdict): Verdict {
  const v: Verdict = { ...retired, failures: [] };
  const samples: string[] = [];
  for (const msg of ledger.msgs.values()) judge(msg, v, samples);
  ledger.samples.push(...samples);
  const c = ledger.c;
  const fail = (n: number, what: string): void => {
    if (n > 0) v.failures.push(`${n} ${what}`);
  };
  fail(v.missing, 'confirmed messages missing');
  fail(c.phantom, 'phantom deliveries');
  fail(v.lostAfterDelivery, 'confirmed messages lost after a delivery that was never acked');
  fail(c.corrupt, 'corrupt deliveries (body or messageId differs)');
  fail(c.misrouted, 'deliveries from a queue the message was not routed to');
  fail(
    c.doubleDeliveries,
    'redeliveries while the earlier delivery was still held or acked in the same broker life',
  );
  fail(c.duplicatesAfterCleanStop, 'redeliveries of proven acks after a graceful stop');
  fail(c.leftoverAfterDrain, 'messages left in the queues after the final drain');
  fail(c.leftoverAfterCleanRestart, 'messages back in the queues after a graceful restart');
  fail(c.lostQueues, 'queues lost in a restart');
  fail(c.lostExchanges, 'exchanges lost in a restart');
  fail(c.resurrectedQueues, 'deleted queues back after a restart');
  return v;
}
