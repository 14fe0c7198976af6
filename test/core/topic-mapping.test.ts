import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  bindingKeyToFilter,
  filterToBindingKey,
  routingKeyToTopic,
  topicFilterProblem,
  topicNameProblem,
  topicToRoutingKey,
  wildcardSkipsTopic,
} from '../../src/core/topic-mapping.js';
import { TopicMatcher } from '../../src/core/topic-matcher.js';

const limits = { maxTopicBytes: 255, maxTopicLevels: 8 };

/** MQTT's own matching rule, written out level by level (without the `$` rule). */
function mqttMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

// Levels include dots, empty levels and a literal '*', which a naive mapping would confuse with separators.
const level = fc.constantFrom('a', 'b', 'v1.2', '', 'x.y.z', 'temp');
// An empty name or filter is not valid MQTT (it would be a key of no words, not one empty level).
const topic = fc
  .array(level, { minLength: 1, maxLength: 5 })
  .map((levels) => levels.join('/'))
  .filter((t) => t !== '');
const filter = fc
  .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 1, maxLength: 5 }), fc.boolean())
  .map(([levels, hash]) => [...levels, ...(hash ? ['#'] : [])].join('/'))
  .filter((f) => f !== '');

describe('MQTT topics as topic-exchange keys', () => {
  it('maps separators and wildcards as documented', () => {
    assert.equal(topicToRoutingKey('sensors/kitchen/temp'), 'sensors.kitchen.temp');
    assert.equal(topicToRoutingKey('v1.2/temp'), 'v1/2.temp');
    assert.equal(routingKeyToTopic('orders.eu'), 'orders/eu');
    assert.equal(routingKeyToTopic('file/name.txt'), 'file.name/txt');
    assert.equal(filterToBindingKey('sensors/+/temp/#'), 'sensors.*.temp.#');
    assert.equal(filterToBindingKey('a+b/+'), 'a+b.*', 'only a whole-level + is a wildcard');
    assert.equal(bindingKeyToFilter('sensors.*.temp.#'), 'sensors/+/temp/#');
    assert.equal(bindingKeyToFilter('a*.*'), 'a*/+');
  });

  it('gives every topic back unchanged after a round trip', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (t) => routingKeyToTopic(topicToRoutingKey(t)) === t),
    );
    fc.assert(fc.property(filter, (f) => bindingKeyToFilter(filterToBindingKey(f)) === f));
  });

  it('keeps MQTT matching: a filter matches a topic exactly when its binding key matches the routing key', () => {
    fc.assert(
      fc.property(filter, topic, (f, t) => {
        const matcher = new TopicMatcher<string>();
        matcher.add(filterToBindingKey(f), f);
        return matcher.match(topicToRoutingKey(t)).has(f) === mqttMatches(f, t);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses topic names with wildcards, empty names, U+0000 and names past the limits', () => {
    assert.equal(topicNameProblem('a/b', limits), undefined);
    assert.match(topicNameProblem('a/+', limits)!, /wildcard/);
    assert.match(topicNameProblem('a/#', limits)!, /wildcard/);
    assert.match(topicNameProblem('', limits)!, /empty/);
    assert.match(topicNameProblem('a\u0000b', limits)!, /U\+0000/);
    assert.match(topicNameProblem('x'.repeat(256), limits)!, /longer than 255 bytes/);
    assert.match(
      topicNameProblem('é'.repeat(128), limits)!,
      /longer than 255 bytes/,
      'counted in UTF-8 bytes',
    );
    assert.match(topicNameProblem('a/b/c/d/e/f/g/h/i', limits)!, /more than 8 levels/);
  });

  it('refuses filters whose wildcards are not whole levels or whose # is not last', () => {
    for (const ok of ['#', '+', 'a/#', '+/+/b', 'a/+/#', '/#', '$SYS/#']) {
      assert.equal(topicFilterProblem(ok, limits), undefined, ok);
    }
    for (const bad of ['a/#/b', 'a#', 'a/b#', '+a', 'a/b+/c', '##', '']) {
      assert.notEqual(topicFilterProblem(bad, limits), undefined, bad);
    }
  });

  it('keeps wildcards in the first level away from $ topics', () => {
    assert.equal(wildcardSkipsTopic('#', '$SYS/uptime'), true);
    assert.equal(wildcardSkipsTopic('+/uptime', '$SYS/uptime'), true);
    assert.equal(wildcardSkipsTopic('$SYS/#', '$SYS/uptime'), false);
    assert.equal(wildcardSkipsTopic('#', 'sys/uptime'), false);
  });
});
