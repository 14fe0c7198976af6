import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeBasicProperties } from '../../src/codec/basic-properties.js';
import type { Consumer } from '../../src/core/consumer.js';
import { ConsumerGroup, parseGroupKey } from '../../src/core/consumer-group.js';
import { Message } from '../../src/core/message.js';

function message(routingKey: string): Message {
  return new Message('', routingKey, encodeBasicProperties({}), Buffer.from(routingKey), true, 0, -1, 0);
}

function member(tag: string, holder: object, credit = 100): Consumer & { credit: number } {
  return {
    tag,
    noAck: false,
    exclusive: false,
    owner: {},
    holder,
    priority: 0,
    credit,
    hasCredit() {
      return this.credit > 0;
    },
    deliver() {
      this.credit--;
    },
    cancelledByQueue() {},
  };
}

/** Offers everything the group will take from a log of `keys` (offset i has routing key keys[i]). */
function pump(group: ConsumerGroup, keys: string[]): Array<[number, string, boolean]> {
  const out: Array<[number, string, boolean]> = [];
  for (;;) {
    const offset = group.candidate(keys.length);
    if (offset < 0) return out;
    const ok = group.offer(offset, message(keys[offset]), (m, redelivered) => {
      m.deliver(undefined as never, offset, message(keys[offset]), redelivered);
      out.push([offset, m.tag, redelivered]);
    });
    if (!ok) return out;
  }
}

test('a group hands each offset to one member; committed is the first offset not yet done', () => {
  const group = new ConsumerGroup('g', 0, undefined, () => 'stream');
  const a = member('a', {});
  const b = member('b', {});
  group.members.add(a);
  group.members.add(b);
  const got = pump(group, ['x', 'x', 'x', 'x']);
  assert.deepEqual(
    got.map(([o, tag]) => [o, tag]),
    [
      [0, 'a'],
      [1, 'b'],
      [2, 'a'],
      [3, 'b'],
    ],
  );
  assert.equal(group.committed, 0);
  group.settle(1);
  group.settle(2);
  assert.equal(group.committed, 0, 'offset 0 is still in flight');
  group.settle(0);
  assert.equal(group.committed, 3);
  group.settle(3);
  assert.equal(group.committed, 4);
});

test('releasing a holder returns its offsets, redelivered, before new ones', () => {
  const group = new ConsumerGroup('g', 0, undefined, () => 'stream');
  const holderA = {};
  const a = member('a', holderA, 2);
  group.members.add(a);
  pump(group, ['x', 'x', 'x', 'x']);
  group.members.remove(a);
  assert.equal(group.releaseOwner(holderA), 2);
  const b = member('b', {});
  group.members.add(b);
  assert.deepEqual(pump(group, ['x', 'x', 'x', 'x']), [
    [0, 'b', true],
    [1, 'b', true],
    [2, 'b', false],
    [3, 'b', false],
  ]);
});

test('with a key, a busy key waits behind its predecessor; other keys go on', () => {
  const group = new ConsumerGroup('g', 0, parseGroupKey('routing-key', 's'), () => 'stream');
  const a = member('a', {});
  const b = member('b', {});
  group.members.add(a);
  group.members.add(b);
  const keys = ['k1', 'k1', 'k2', 'k1', 'k2'];
  assert.deepEqual(
    pump(group, keys).map(([o]) => o),
    [0, 2],
    'only the first of each key goes out',
  );
  group.settle(0);
  assert.deepEqual(
    pump(group, keys).map(([o]) => o),
    [1],
    'k1 moves on once 0 is acked',
  );
  group.requeue(2); // nacked: it stays first for k2
  assert.deepEqual(
    pump(group, keys).map(([o, , r]) => [o, r]),
    [[2, true]],
  );
  group.settle(2);
  group.settle(1);
  assert.deepEqual(
    pump(group, keys)
      .map(([o]) => o)
      .sort(),
    [3, 4],
  );
  group.settle(3);
  group.settle(4);
  assert.equal(group.committed, 5);
});

test('reset moves the group; parseGroupKey accepts routing-key and header:NAME only', () => {
  const group = new ConsumerGroup('g', 10, undefined, () => 'stream');
  group.reset(3);
  assert.equal(group.next, 3);
  assert.equal(group.committed, 3);
  assert.deepEqual(parseGroupKey('header:tenant', 's'), { kind: 'header', name: 'tenant' });
  assert.throws(() => parseGroupKey('header:', 's'), /x-group-key/);
  assert.throws(() => parseGroupKey(5, 's'), /x-group-key/);
});
