import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TypedFieldValue } from '../../src/codec/field-table.js';
import { MAX_POLICIES_PER_VHOST, PolicyRegistry } from '../../src/core/policies.js';
import {
  type Policy,
  PolicyValidationError,
  validatePolicy,
  validatePolicyDefinition,
} from '../../src/core/policy-definition.js';
import { parseQueueArguments } from '../../src/core/queue-arguments.js';
import { MetadataStore } from '../../src/store/metadata-store.js';

let root: string;
let dirCount = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'eventter-policies-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function openStore(dir?: string): Promise<MetadataStore> {
  return MetadataStore.open(dir ?? join(root, `meta-${dirCount++}`), { fsync: false });
}

function policy(overrides: Partial<Policy> & Pick<Policy, 'name'>): Policy {
  return {
    vhost: '/',
    pattern: '.*',
    applyTo: 'all',
    priority: 0,
    definition: { 'max-length': 10 },
    ...overrides,
  };
}

describe('policy definition validation', () => {
  it('accepts every supported key with a valid value', () => {
    const definition = {
      'message-ttl': 0,
      expires: 1,
      'max-length': 0,
      'max-length-bytes': 1024,
      'delivery-limit': 3,
      overflow: 'reject-publish-dlx',
      'dead-letter-exchange': 'dlx',
      'dead-letter-routing-key': 'dead',
      'queue-mode': 'lazy',
      'alternate-exchange': 'ae',
    };
    assert.deepEqual(validatePolicyDefinition(definition), definition);
  });

  it('names the unknown key and lists the supported ones', () => {
    assert.throws(
      () => validatePolicyDefinition({ 'max-lenght': 5 }),
      (err: Error) =>
        err instanceof PolicyValidationError &&
        /unknown policy key "max-lenght"/.test(err.message) &&
        /supported keys: .*max-length/.test(err.message),
    );
  });

  it('refuses the keys RabbitMQ only takes as declare arguments', () => {
    for (const key of ['max-priority', 'single-active-consumer', 'queue-type']) {
      assert.throws(
        () => validatePolicyDefinition({ [key]: 1 }),
        new RegExp(`"${key}" cannot be set by a policy.*x-${key}`),
      );
    }
  });

  it('says when a RabbitMQ key is not supported', () => {
    assert.throws(
      () => validatePolicyDefinition({ 'ha-mode': 'all' }),
      /RabbitMQ policy key EventterMQ does not support/,
    );
  });

  it('checks value types and ranges as RabbitMQ does', () => {
    const bad: Array<[string, unknown]> = [
      ['message-ttl', -1],
      ['message-ttl', 1.5],
      ['message-ttl', '1000'],
      ['message-ttl', 0x1_0000_0000],
      ['expires', 0],
      ['max-length', -5],
      ['max-length-bytes', true],
      ['delivery-limit', null],
      ['overflow', 'drop-tail'],
      ['queue-mode', 'fast'],
      ['dead-letter-exchange', 42],
      ['alternate-exchange', 'x'.repeat(256)],
    ];
    for (const [key, value] of bad) {
      assert.throws(
        () => validatePolicyDefinition({ [key]: value }),
        PolicyValidationError,
        `${key}=${JSON.stringify(value)}`,
      );
    }
  });

  it('refuses an empty or non-object definition', () => {
    assert.throws(() => validatePolicyDefinition({}), /no policy provided/);
    assert.throws(() => validatePolicyDefinition([]), /must be a JSON object/);
    assert.throws(() => validatePolicyDefinition('x'), /must be a JSON object/);
    assert.throws(
      () => validatePolicyDefinition(JSON.parse('{"__proto__":1}')),
      /unknown policy key "__proto__"/,
    );
  });

  it('validates pattern, apply-to, priority and names, with RabbitMQ defaults', () => {
    const base = { vhost: '/', name: 'p', pattern: '^a', definition: { 'max-length': 1 } };
    assert.deepEqual(validatePolicy(base), { ...base, applyTo: 'all', priority: 0 });
    assert.throws(() => validatePolicy({ ...base, pattern: '(' }), /invalid pattern/);
    assert.throws(() => validatePolicy({ ...base, pattern: 5 }), /pattern must be/);
    assert.throws(() => validatePolicy({ ...base, applyTo: 'streams' }), /not a valid apply-to/);
    assert.throws(() => validatePolicy({ ...base, priority: '1' }), /not a valid priority/);
    assert.throws(() => validatePolicy({ ...base, priority: Number.NaN }), /not a valid priority/);
    assert.throws(() => validatePolicy({ ...base, name: '' }), /policy name must be/);
    assert.throws(() => validatePolicy({ ...base, vhost: 'v'.repeat(256) }), /vhost must be/);
  });
});

describe('PolicyRegistry matching', () => {
  it('applies the highest-priority matching policy only', async () => {
    const reg = new PolicyRegistry(await openStore());
    await reg.set(policy({ name: 'low', pattern: '^orders', priority: 1, definition: { 'max-length': 1 } }));
    await reg.set(
      policy({ name: 'high', pattern: '\\.created$', priority: 5, definition: { 'message-ttl': 9 } }),
    );
    assert.equal(reg.match('/', 'queue', 'orders.created')?.name, 'high');
    assert.equal(reg.match('/', 'queue', 'orders.shipped')?.name, 'low');
    assert.equal(reg.match('/', 'queue', 'payments'), undefined);
    // Only the winner's definition is merged: no max-length from the lower policy.
    assert.deepEqual(reg.effectiveQueueArguments('/', 'orders.created', {}), { 'x-message-ttl': 9 });
  });

  it('breaks priority ties by policy name', async () => {
    const reg = new PolicyRegistry(await openStore());
    await reg.set(policy({ name: 'zeta', priority: 2 }));
    await reg.set(policy({ name: 'alpha', priority: 2 }));
    await reg.set(policy({ name: 'mid', priority: 1 }));
    assert.equal(reg.match('/', 'queue', 'q')?.name, 'alpha');
  });

  it('matches the pattern anywhere in the name, like re:run', async () => {
    const reg = new PolicyRegistry(await openStore());
    await reg.set(policy({ name: 'p', pattern: 'tmp' }));
    assert.equal(reg.match('/', 'queue', 'a.tmp.b')?.name, 'p');
    assert.equal(reg.match('/', 'queue', 'a.TMP.b'), undefined);
  });

  it('respects apply-to and vhost', async () => {
    const reg = new PolicyRegistry(await openStore());
    await reg.set(policy({ name: 'q', applyTo: 'queues', priority: 1 }));
    await reg.set(policy({ name: 'x', applyTo: 'exchanges', definition: { 'alternate-exchange': 'ae' } }));
    await reg.set(policy({ name: 'other', vhost: 'other', priority: 9 }));
    assert.equal(reg.match('/', 'queue', 'anything')?.name, 'q');
    assert.equal(reg.match('/', 'exchange', 'anything')?.name, 'x');
    assert.equal(reg.match('other', 'exchange', 'anything')?.name, 'other');
    assert.equal(reg.match('nope', 'queue', 'anything'), undefined);
  });

  it('lists by vhost then name and returns copies', async () => {
    const reg = new PolicyRegistry(await openStore());
    await reg.set(policy({ name: 'b' }));
    await reg.set(policy({ name: 'a', vhost: 'v2' }));
    await reg.set(policy({ name: 'a' }));
    assert.deepEqual(
      reg.list().map((p) => `${p.vhost}:${p.name}`),
      ['/:a', '/:b', 'v2:a'],
    );
    assert.deepEqual(
      reg.list('/').map((p) => p.name),
      ['a', 'b'],
    );
    assert.deepEqual(reg.list('none'), []);
    const listed = reg.list('/')[0];
    listed.definition['max-length'] = 99;
    assert.equal(reg.get('/', 'a')?.definition['max-length'], 10);
  });

  it('replaces a policy of the same name and reports whether it was new', async () => {
    const reg = new PolicyRegistry(await openStore());
    assert.equal(await reg.set(policy({ name: 'p', priority: 1 })), true);
    assert.equal(await reg.set(policy({ name: 'p', priority: 2, pattern: '^x' })), false);
    assert.equal(reg.list().length, 1);
    assert.equal(reg.get('/', 'p')?.pattern, '^x');
    assert.equal(reg.match('/', 'queue', 'y'), undefined);
  });

  it('refuses invalid policies without storing them', async () => {
    const reg = new PolicyRegistry(await openStore());
    await assert.rejects(reg.set(policy({ name: 'p', definition: { bogus: 1 } })), PolicyValidationError);
    await assert.rejects(reg.set(policy({ name: 'p', pattern: '[' })), PolicyValidationError);
    assert.deepEqual(reg.list(), []);
  });

  it('bounds the number of policies per vhost', async () => {
    const reg = new PolicyRegistry(await openStore());
    for (let i = 0; i < MAX_POLICIES_PER_VHOST; i++) await reg.set(policy({ name: `p${i}` }));
    await assert.rejects(reg.set(policy({ name: 'one-more' })), /already has 1024 policies/);
    await reg.set(policy({ name: 'p0', priority: 3 })); // replacing is still fine
    await reg.set(policy({ name: 'elsewhere', vhost: 'v' }));
  });
});

describe('PolicyRegistry argument merging', () => {
  async function registryWith(definition: Policy['definition'], applyTo: Policy['applyTo'] = 'all') {
    const reg = new PolicyRegistry(await openStore());
    await reg.set(policy({ name: 'p', definition, applyTo }));
    return reg;
  }

  it('fills in absent arguments with x- names', async () => {
    const reg = await registryWith({
      'message-ttl': 1000,
      expires: 60000,
      'max-length': 5,
      'max-length-bytes': 4096,
      'delivery-limit': 2,
      overflow: 'reject-publish',
      'dead-letter-exchange': 'dlx',
      'dead-letter-routing-key': 'rk',
      'queue-mode': 'lazy',
      'alternate-exchange': 'ae',
    });
    const args = reg.effectiveQueueArguments('/', 'q', {});
    assert.deepEqual(args, {
      'x-message-ttl': 1000,
      'x-expires': 60000,
      'x-max-length': 5,
      'x-max-length-bytes': 4096,
      'x-delivery-limit': 2,
      'x-overflow': 'reject-publish',
      'x-dead-letter-exchange': 'dlx',
      'x-dead-letter-routing-key': 'rk',
      'x-queue-mode': 'lazy',
    });
    const settings = parseQueueArguments(args, 'queue q');
    assert.equal(settings.messageTtl, 1000);
    assert.equal(settings.maxLength, 5);
    assert.equal(settings.overflow, 'reject-publish');
    assert.equal(settings.deadLetterRoutingKey, 'rk');
  });

  it('takes the lower of policy and argument for numeric limits', async () => {
    const reg = await registryWith({
      'message-ttl': 1000,
      expires: 60000,
      'max-length': 5,
      'max-length-bytes': 4096,
      'delivery-limit': 2,
    });
    // Arguments below the policy stay; the policy lowers those above it.
    assert.deepEqual(
      reg.effectiveQueueArguments('/', 'q', {
        'x-message-ttl': 500,
        'x-expires': 120000,
        'x-max-length': 100,
        'x-max-length-bytes': 10,
        'x-delivery-limit': 7,
      }),
      {
        'x-message-ttl': 500,
        'x-expires': 60000,
        'x-max-length': 5,
        'x-max-length-bytes': 10,
        'x-delivery-limit': 2,
      },
    );
  });

  it('compares typed and bigint arguments by value', async () => {
    const reg = await registryWith({ 'max-length': 5, 'message-ttl': 100 });
    const typed = new TypedFieldValue('short', 3);
    const args = reg.effectiveQueueArguments('/', 'q', { 'x-max-length': typed, 'x-message-ttl': 1000n });
    assert.equal(args['x-max-length'], typed);
    assert.equal(args['x-message-ttl'], 100);
  });

  it('leaves a malformed argument for the parser to report', async () => {
    const reg = await registryWith({ 'max-length': 5 });
    const args = reg.effectiveQueueArguments('/', 'q', { 'x-max-length': 'lots' });
    assert.equal(args['x-max-length'], 'lots');
    assert.throws(() => parseQueueArguments(args, 'queue q'), /invalid arg 'x-max-length'/);
  });

  it('keeps the argument for dead lettering, overflow and queue mode', async () => {
    const reg = await registryWith({
      'dead-letter-exchange': 'policy-dlx',
      'dead-letter-routing-key': 'policy-rk',
      overflow: 'reject-publish',
      'queue-mode': 'lazy',
    });
    assert.deepEqual(
      reg.effectiveQueueArguments('/', 'q', {
        'x-dead-letter-exchange': 'arg-dlx',
        'x-overflow': 'drop-head',
        'x-queue-mode': 'default',
      }),
      {
        'x-dead-letter-exchange': 'arg-dlx',
        'x-dead-letter-routing-key': 'policy-rk',
        'x-overflow': 'drop-head',
        'x-queue-mode': 'default',
      },
    );
  });

  it('drops a policy routing key when no dead letter exchange applies', async () => {
    const reg = await registryWith({ 'dead-letter-routing-key': 'rk', 'max-length': 1 });
    const args = reg.effectiveQueueArguments('/', 'q', {});
    assert.deepEqual(args, { 'x-max-length': 1 });
    assert.doesNotThrow(() => parseQueueArguments(args, 'queue q'));
    assert.deepEqual(reg.effectiveQueueArguments('/', 'q', { 'x-dead-letter-exchange': 'd' }), {
      'x-dead-letter-exchange': 'd',
      'x-dead-letter-routing-key': 'rk',
      'x-max-length': 1,
    });
  });

  it('keeps other arguments, never mutates the input, and returns it as is without a policy', async () => {
    const reg = await registryWith({ 'max-length': 5 }, 'queues');
    const input = { 'x-max-priority': 10, 'x-max-length': 50 };
    const args = reg.effectiveQueueArguments('/', 'q', input);
    assert.deepEqual(args, { 'x-max-priority': 10, 'x-max-length': 5 });
    assert.deepEqual(input, { 'x-max-priority': 10, 'x-max-length': 50 });
    assert.equal(reg.effectiveQueueArguments('other-vhost', 'q', input), input);
    // A queues-only policy does not touch exchanges.
    assert.equal(reg.effectiveExchangeArguments('/', 'x', input), input);
  });

  it('merges alternate-exchange into exchange arguments only, the argument winning', async () => {
    const reg = await registryWith({ 'alternate-exchange': 'policy-ae', 'max-length': 3 });
    assert.deepEqual(reg.effectiveExchangeArguments('/', 'x', {}), { 'alternate-exchange': 'policy-ae' });
    assert.deepEqual(reg.effectiveExchangeArguments('/', 'x', { 'alternate-exchange': 'mine' }), {
      'alternate-exchange': 'mine',
    });
    assert.deepEqual(reg.effectiveQueueArguments('/', 'q', {}), { 'x-max-length': 3 });
  });
});

describe('PolicyRegistry merge cache', () => {
  it('reuses a result until a policy changes', async () => {
    const reg = new PolicyRegistry(await openStore());
    await reg.set(policy({ name: 'ae', applyTo: 'exchanges', definition: { 'alternate-exchange': 'one' } }));
    const args = {};
    const first = reg.effectiveExchangeArguments('/', 'x', args);
    assert.equal(reg.effectiveExchangeArguments('/', 'x', args), first);
    // Same table, other exchange or kind: computed afresh.
    assert.equal(reg.effectiveExchangeArguments('/', 'y', args)['alternate-exchange'], 'one');
    assert.deepEqual(reg.effectiveQueueArguments('/', 'x', args), args);
    await reg.set(policy({ name: 'ae', applyTo: 'exchanges', definition: { 'alternate-exchange': 'two' } }));
    assert.deepEqual(reg.effectiveExchangeArguments('/', 'x', args), { 'alternate-exchange': 'two' });
    await reg.clear('/', 'ae');
    assert.equal(reg.effectiveExchangeArguments('/', 'x', args), args);
  });
});

describe('PolicyRegistry persistence and change notification', () => {
  it('survives closing and reopening the metadata store', async () => {
    const dir = join(root, 'persist');
    const store = await openStore(dir);
    const reg = new PolicyRegistry(store);
    await reg.set(policy({ name: 'keep', pattern: '^k', applyTo: 'queues', priority: 4 }));
    await reg.set(policy({ name: 'drop' }));
    await reg.set(policy({ name: 'other', vhost: 'v', definition: { 'alternate-exchange': 'ae' } }));
    assert.equal(await reg.clear('/', 'drop'), true);
    await store.close();

    const reopened = await openStore(dir);
    const loaded = new PolicyRegistry(reopened);
    loaded.load();
    assert.deepEqual(loaded.list(), [
      {
        vhost: '/',
        name: 'keep',
        pattern: '^k',
        applyTo: 'queues',
        priority: 4,
        definition: { 'max-length': 10 },
      },
      {
        vhost: 'v',
        name: 'other',
        pattern: '.*',
        applyTo: 'all',
        priority: 0,
        definition: { 'alternate-exchange': 'ae' },
      },
    ]);
    assert.equal(loaded.match('/', 'queue', 'kq')?.name, 'keep');
    await reopened.close();
  });

  it('skips stored policies that no longer validate, with a warning', async () => {
    const store = await openStore();
    await store.put('policy\u0000/\u0000bad', {
      vhost: '/',
      name: 'bad',
      pattern: '.*',
      definition: { nope: 1 },
    });
    await store.put('policy\u0000/\u0000good', {
      vhost: '/',
      name: 'good',
      pattern: '.*',
      applyTo: 'all',
      priority: 0,
      definition: { 'max-length': 1 },
    });
    await store.put('policy\u0000/\u0000misfiled', {
      vhost: '/',
      name: 'elsewhere',
      pattern: '.*',
      definition: { 'max-length': 1 },
    });
    const warnings: string[] = [];
    const reg = new PolicyRegistry(store, { onWarning: (m) => warnings.push(m) });
    reg.load();
    assert.deepEqual(
      reg.list().map((p) => p.name),
      ['good'],
    );
    assert.equal(warnings.length, 2);
    assert.match(warnings.join('\n'), /"\/\\u0000bad": unknown policy key "nope"/);
  });

  it('notifies listeners after the change is durable, and not for no-ops', async () => {
    const store = await openStore();
    const reg = new PolicyRegistry(store);
    const seen: Array<[string, boolean]> = [];
    const unsubscribe = reg.onChange((vhost) => seen.push([vhost, store.has('policy\u0000v\u0000p')]));
    await reg.set(policy({ name: 'p', vhost: 'v' }));
    assert.equal(await reg.clear('v', 'missing'), false);
    await reg.clear('v', 'p');
    assert.deepEqual(seen, [
      ['v', true],
      ['v', false],
    ]);
    unsubscribe();
    await reg.set(policy({ name: 'p', vhost: 'v' }));
    assert.equal(seen.length, 2);
  });

  it('keeps going when a listener throws', async () => {
    const warnings: string[] = [];
    const reg = new PolicyRegistry(await openStore(), { onWarning: (m) => warnings.push(m) });
    let called = 0;
    reg.onChange(() => {
      throw new Error('boom');
    });
    reg.onChange(() => called++);
    await reg.set(policy({ name: 'p' }));
    assert.equal(called, 1);
    assert.match(warnings[0], /boom/);
  });
});
