import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CodecError } from '../../../../src/codec/codec-error.js';
import {
  type AmqpMethod,
  CLASS_BASIC,
  decodeMethod,
  encodeMethod,
  METHOD_BASIC_PUBLISH,
  METHOD_INFOS,
  type MethodInfo,
  methodHasContent,
  methodInfo,
  type WireType,
} from '../../../../src/protocols/amqp091/generated/methods.js';
import { amqplibDefs } from '../../../codec/amqplib-internals.js';
import { fieldTableArbitrary } from '../../../codec/field-value-arbitrary.js';

function fieldArbitrary(type: WireType, simpleTables: boolean): fc.Arbitrary<unknown> {
  switch (type) {
    case 'bit':
      return fc.boolean();
    case 'octet':
      return fc.integer({ min: 0, max: 0xff });
    case 'short':
      return fc.integer({ min: 0, max: 0xffff });
    case 'long':
      return fc.integer({ min: 0, max: 0xffff_ffff });
    case 'longlong':
    case 'timestamp':
      return fc.maxSafeNat();
    case 'shortstr':
      return fc.string({ unit: 'binary', maxLength: 63 });
    case 'longstr':
      return fc.uint8Array({ maxLength: 100 }).map((a) => Buffer.from(a));
    case 'table':
      // amqplib decodes typed values differently; keep to the common subset for interop checks.
      return simpleTables
        ? fc.dictionary(
            // amqplib turns a '__proto__' key into a prototype; our decoder keeps it as data.
            fc.string({ maxLength: 10 }).filter((k) => k !== '__proto__'),
            fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.boolean()),
            { maxKeys: 4, noNullPrototype: true },
          )
        : fieldTableArbitrary(3);
  }
}

function methodArbitrary(info: MethodInfo, simpleTables = false): fc.Arbitrary<AmqpMethod> {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of info.fields) fields[f.prop] = fieldArbitrary(f.type, simpleTables);
  return fc
    .record(fields, { noNullPrototype: true })
    .map(
      (args) => ({ name: info.name, classId: info.classId, methodId: info.methodId, ...args }) as AmqpMethod,
    );
}

const anyMethod = fc.oneof(...METHOD_INFOS.map((i) => methodArbitrary(i)));

function assertCodecError(fn: () => unknown, replyCode?: number): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CodecError, `expected CodecError, got ${String(err)}`);
    if (replyCode !== undefined) assert.equal(err.replyCode, replyCode);
    return true;
  });
}

/** amqplib's argument names where ours differ. */
const AMQPLIB_NAMES: Record<string, string> = {
  noWait: 'nowait',
  failingClassId: 'classId',
  failingMethodId: 'methodId',
};

describe('method codec', () => {
  it('defines every method of AMQP 0-9-1 plus the RabbitMQ extensions', () => {
    assert.equal(METHOD_INFOS.length, 66);
    for (const name of [
      'confirm.select',
      'confirm.select-ok',
      'basic.nack',
      'connection.blocked',
      'connection.unblocked',
      'connection.update-secret',
      'connection.update-secret-ok',
      'exchange.bind',
      'exchange.bind-ok',
      'exchange.unbind',
      'exchange.unbind-ok',
    ]) {
      assert.ok(
        METHOD_INFOS.some((i) => i.name === name),
        name,
      );
    }
    assert.equal(methodInfo(40, 51)?.name, 'exchange.unbind-ok');
    assert.equal(methodInfo(85, 10)?.name, 'confirm.select');
    assert.deepEqual(methodInfo(60, 70)?.responses, ['basic.get-ok', 'basic.get-empty']);
    assert.equal(methodInfo(60, 999), undefined);
  });

  it('agrees with amqplib on every method id and argument type', () => {
    for (const info of METHOD_INFOS) {
      const theirs = amqplibDefs.info(info.classId * 65536 + info.methodId);
      assert.deepEqual(
        theirs.args.map((a) => a.type),
        info.fields.map((f) => f.type),
        info.name,
      );
    }
  });

  it('knows which methods carry content', () => {
    const withContent = METHOD_INFOS.filter((i) => methodHasContent(i.classId, i.methodId)).map(
      (i) => i.name,
    );
    assert.deepEqual(withContent.sort(), ['basic.deliver', 'basic.get-ok', 'basic.publish', 'basic.return']);
    assert.equal(methodHasContent(CLASS_BASIC, METHOD_BASIC_PUBLISH), true);
  });

  it('encodes golden bytes', () => {
    const publish = encodeMethod({
      name: 'basic.publish',
      classId: 60,
      methodId: 40,
      exchange: 'ex',
      routingKey: 'rk',
      mandatory: true,
      immediate: false,
    });
    assert.deepEqual(publish, Buffer.from([0, 60, 0, 40, 0, 0, 2, 0x65, 0x78, 2, 0x72, 0x6b, 1]));
    const ack = encodeMethod({
      name: 'basic.ack',
      classId: 60,
      methodId: 80,
      deliveryTag: 2 ** 32 + 5,
      multiple: true,
    });
    assert.deepEqual(ack, Buffer.from([0, 60, 0, 80, 0, 0, 0, 1, 0, 0, 0, 5, 1]));
    const declare = encodeMethod({
      name: 'queue.declare',
      classId: 50,
      methodId: 10,
      queue: 'q',
      passive: false,
      durable: true,
      exclusive: false,
      autoDelete: true,
      noWait: true,
      arguments: {},
    });
    assert.deepEqual(declare, Buffer.from([0, 50, 0, 10, 0, 0, 1, 0x71, 0b11010, 0, 0, 0, 0]));
    assert.deepEqual(
      encodeMethod({ name: 'connection.close-ok', classId: 10, methodId: 51 }),
      Buffer.from([0, 10, 0, 51]),
    );
  });

  it('round-trips every method with arbitrary arguments', () => {
    for (const info of METHOD_INFOS) {
      fc.assert(
        fc.property(methodArbitrary(info), fc.nat(8), (m, pad) => {
          const payload = encodeMethod(m);
          assert.deepStrictEqual(decodeMethod(payload, 0, payload.length), m);
          // Decoding must stay inside [start, end) of a larger buffer.
          const framed = Buffer.concat([Buffer.alloc(pad, 0xcc), payload, Buffer.from([0xce])]);
          assert.deepStrictEqual(decodeMethod(framed, pad, pad + payload.length), m);
        }),
        { numRuns: 30 },
      );
    }
  });

  it('fills omitted reserved fields with their defaults', () => {
    const b = encodeMethod({ name: 'connection.open', classId: 10, methodId: 40, virtualHost: '/' });
    const m = decodeMethod(b, 0, b.length);
    assert.deepEqual(m, {
      name: 'connection.open',
      classId: 10,
      methodId: 40,
      virtualHost: '/',
      capabilities: '',
      insist: false,
    });
  });

  it('interoperates with amqplib in both directions', () => {
    for (const info of METHOD_INFOS) {
      const id = info.classId * 65536 + info.methodId;
      fc.assert(
        fc.property(methodArbitrary(info, true), (m) => {
          const args = m as unknown as Record<string, unknown>;
          const theirArgs: Record<string, unknown> = {};
          for (const f of info.fields) theirArgs[AMQPLIB_NAMES[f.prop] ?? f.prop] = args[f.prop];
          // ours -> amqplib
          const payload = encodeMethod(m);
          assert.deepStrictEqual({ ...amqplibDefs.decode(id, payload.subarray(4)) }, theirArgs);
          // amqplib -> ours
          const frame = amqplibDefs.encodeMethod(id, 1, theirArgs);
          assert.deepStrictEqual(decodeMethod(frame, 7, frame.length - 1), m);
        }),
        { numRuns: 20 },
      );
    }
  });
});

describe('method codec errors', () => {
  it('answers unknown class or method ids with 540 NOT_IMPLEMENTED', () => {
    assertCodecError(() => decodeMethod(Buffer.from([0, 60, 0, 41]), 0, 4), 540);
    assertCodecError(() => decodeMethod(Buffer.from([0, 99, 0, 10, 1, 2]), 0, 6), 540);
  });

  it('answers a payload shorter than the ids with 501', () => {
    assertCodecError(() => decodeMethod(Buffer.from([0, 60, 0]), 0, 3), 501);
  });

  it('answers every truncation and any trailing byte with a CodecError', () => {
    fc.assert(
      fc.property(anyMethod, (m) => {
        const payload = encodeMethod(m);
        for (let cut = 4; cut < payload.length; cut++) assertCodecError(() => decodeMethod(payload, 0, cut));
        const longer = Buffer.concat([payload, Buffer.from([0])]);
        assertCodecError(() => decodeMethod(longer, 0, longer.length), 501);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws anything but CodecError on random arguments', () => {
    const ids = fc.constantFrom(...METHOD_INFOS.map((i) => [i.classId, i.methodId] as const));
    fc.assert(
      fc.property(ids, fc.uint8Array({ maxLength: 60 }), ([classId, methodId], args) => {
        const payload = Buffer.concat([Buffer.from([classId >> 8, classId & 0xff, 0, methodId]), args]);
        try {
          const m = decodeMethod(payload, 0, payload.length);
          assert.equal(m.classId, classId);
        } catch (err) {
          assert.ok(err instanceof CodecError, String(err));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('rejects shortstr arguments longer than 255 bytes when encoding', () => {
    assertCodecError(
      () =>
        encodeMethod({
          name: 'basic.publish',
          classId: 60,
          methodId: 40,
          exchange: 'e'.repeat(256),
          routingKey: '',
          mandatory: false,
          immediate: false,
        }),
      502,
    );
  });
});
