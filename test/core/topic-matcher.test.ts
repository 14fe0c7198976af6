import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { TopicMatcher } from '../../src/core/topic-matcher.js';

/** Reference semantics by straightforward recursion over words: the trie must agree with it. */
function referenceMatch(bindingKey: string, routingKey: string): boolean {
  const pattern = bindingKey === '' ? [] : bindingKey.split('.');
  const words = routingKey === '' ? [] : routingKey.split('.');
  const go = (p: number, w: number): boolean => {
    if (p === pattern.length) return w === words.length;
    if (pattern[p] === '#') {
      for (let k = w; k <= words.length; k++) if (go(p + 1, k)) return true;
      return false;
    }
    if (w === words.length) return false;
    return (pattern[p] === '*' || pattern[p] === words[w]) && go(p + 1, w + 1);
  };
  return go(0, 0);
}

const word = fc.constantFrom('a', 'b', 'c', '', 'stock', 'usd');
const routingKey = fc.array(word, { minLength: 1, maxLength: 6 }).map((ws) => ws.join('.'));
const bindingKey = fc
  .array(fc.oneof(word, fc.constant('*'), fc.constant('#')), { minLength: 1, maxLength: 6 })
  .map((ws) => ws.join('.'));

test('matches exactly what the reference semantics match', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(bindingKey, { maxLength: 12 }),
      fc.array(routingKey, { maxLength: 8 }),
      (bks, rks) => {
        const m = new TopicMatcher<string>();
        for (const bk of bks) m.add(bk, bk);
        for (const rk of rks) {
          const got = [...m.match(rk)].sort();
          const want = bks.filter((bk) => referenceMatch(bk, rk)).sort();
          assert.deepEqual(got, want, `routing key ${JSON.stringify(rk)}`);
        }
      },
    ),
    { numRuns: 500 },
  );
});

test('removing bindings restores the previous answers and prunes the trie', () => {
  fc.assert(
    fc.property(fc.uniqueArray(bindingKey, { minLength: 1, maxLength: 10 }), routingKey, (bks, rk) => {
      const m = new TopicMatcher<string>();
      for (const bk of bks) m.add(bk, bk);
      const [removed, ...kept] = bks;
      m.remove(removed, removed);
      assert.equal(m.bindingCount, kept.length);
      const got = [...m.match(rk)].sort();
      assert.deepEqual(got, kept.filter((bk) => referenceMatch(bk, rk)).sort());
      for (const bk of kept) m.remove(bk, bk);
      assert.equal(m.bindingCount, 0);
      assert.equal(m.match(rk).size, 0);
    }),
    { numRuns: 300 },
  );
});

test('RabbitMQ examples', () => {
  const m = new TopicMatcher<string>();
  for (const k of ['*.orange.*', '*.*.rabbit', 'lazy.#', '#', 'a.#.b', '#.#']) m.add(k, k);
  assert.deepEqual([...m.match('quick.orange.rabbit')].sort(), ['#', '#.#', '*.*.rabbit', '*.orange.*']);
  assert.deepEqual([...m.match('lazy.pink.rabbit')].sort(), ['#', '#.#', '*.*.rabbit', 'lazy.#']);
  assert.deepEqual([...m.match('lazy')].sort(), ['#', '#.#', 'lazy.#']);
  assert.deepEqual([...m.match('a.b')].sort(), ['#', '#.#', 'a.#.b']);
  assert.deepEqual([...m.match('a.x.y.b')].sort(), ['#', '#.#', 'a.#.b']);
  assert.deepEqual([...m.match('')].sort(), ['#', '#.#']);
  m.add('*', '*');
  assert.deepEqual([...m.match('')].sort(), ['#', '#.#'], "'' has no word for '*' to match");
});

test('many # segments stay fast (no exponential backtracking)', () => {
  const m = new TopicMatcher<number>();
  m.add('#.#.#.#.#.#.#.#.#.#.x', 1);
  const key = Array.from({ length: 40 }, () => 'a').join('.');
  assert.equal(m.match(key).size, 0);
  assert.equal(m.match(`${key}.x`).size, 1);
});
