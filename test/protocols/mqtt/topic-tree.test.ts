import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TopicTree } from '../../../src/protocols/mqtt/topic-tree.js';

/** MQTT matching with the `$` rule, level by level. */
function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (t[0].startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

const level = fc.constantFrom('a', 'b', '', '$SYS', 'c.d');
const topic = fc.array(level, { minLength: 1, maxLength: 4 }).map((levels) => levels.join('/'));
const filter = fc
  .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 0, maxLength: 4 }), fc.boolean())
  .filter(([levels, hash]) => levels.length > 0 || hash)
  .map(([levels, hash]) => [...levels, ...(hash ? ['#'] : [])].join('/'));

describe('TopicTree (retained messages by filter)', () => {
  it('finds exactly the stored topics a filter matches, $ topics only by name', () => {
    fc.assert(
      fc.property(fc.uniqueArray(topic, { maxLength: 20 }), filter, (topics, f) => {
        const tree = new TopicTree<string>();
        for (const t of topics) tree.set(t, t);
        const found: string[] = [];
        tree.match(f, (t) => found.push(t));
        assert.deepEqual(found.sort(), topics.filter((t) => matches(f, t)).sort());
      }),
      { numRuns: 2000 },
    );
  });

  it('replaces, deletes and prunes', () => {
    const tree = new TopicTree<number>();
    assert.equal(tree.set('a/b', 1), undefined);
    assert.equal(tree.set('a/b', 2), 1);
    tree.set('a/b/c', 3);
    assert.equal(tree.size, 2);
    assert.equal(tree.delete('a/b'), 2);
    assert.equal(tree.get('a/b'), undefined);
    assert.equal(tree.get('a/b/c'), 3);
    assert.equal(tree.delete('a/b/c'), 3);
    assert.equal(tree.delete('a/b/c'), undefined);
    assert.equal(tree.size, 0);
    const all: number[] = [];
    tree.forEach((v) => {
      all.push(v);
    });
    assert.deepEqual(all, []);
  });
});
