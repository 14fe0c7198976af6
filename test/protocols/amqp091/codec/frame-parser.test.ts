import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CodecError } from '../../../../src/codec/codec-error.js';
import {
  AMQP_0_9_1_HEADER,
  DEFAULT_PRE_TUNE_FRAME_MAX,
  FrameParser,
  type FrameParserOptions,
} from '../../../../src/protocols/amqp091/frame-parser.js';

interface Frame {
  type: number;
  channel: number;
  payload: Buffer;
}

function encodeFrame(f: Frame): Buffer {
  const buf = Buffer.alloc(f.payload.length + 8);
  buf[0] = f.type;
  buf.writeUInt16BE(f.channel, 1);
  buf.writeUInt32BE(f.payload.length, 3);
  f.payload.copy(buf, 7);
  buf[buf.length - 1] = 0xce;
  return buf;
}

/** A parser that records frames (copying payloads) and header outcomes. */
function recorder(options: FrameParserOptions = {}) {
  const frames: Frame[] = [];
  const mismatches: Buffer[] = [];
  let headerOk = 0;
  const parser = new FrameParser(
    {
      onFrame(type, channel, buf, start, end) {
        assert.ok(start >= 0 && start <= end && end <= buf.length);
        frames.push({ type, channel, payload: Buffer.from(buf.subarray(start, end)) });
      },
      onProtocolHeader() {
        headerOk++;
      },
      onProtocolHeaderMismatch(header) {
        mismatches.push(header);
      },
    },
    options,
  );
  return { parser, frames, mismatches, headerCount: () => headerOk };
}

const frameArbitrary: fc.Arbitrary<Frame> = fc.oneof(
  fc.record(
    {
      type: fc.constantFrom(1, 2, 3),
      channel: fc.integer({ min: 0, max: 0xffff }),
      payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    },
    { noNullPrototype: true },
  ),
  fc.constant({ type: 8, channel: 0, payload: Buffer.alloc(0) }),
);

/** Splits a buffer at the given cut points (any values; normalised into range). */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    parts.push(buf.subarray(prev, p));
    prev = p;
  }
  parts.push(buf.subarray(prev));
  return parts;
}

function assertFrameError(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof CodecError && err.replyCode === 501);
}

describe('FrameParser', () => {
  it('yields identical frames however the stream is split', () => {
    fc.assert(
      fc.property(
        fc.array(frameArbitrary, { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (frames, cuts) => {
          const stream = Buffer.concat([AMQP_0_9_1_HEADER, ...frames.map(encodeFrame)]);
          const r = recorder();
          for (const part of split(stream, cuts)) r.parser.push(part);
          assert.equal(r.headerCount(), 1);
          assert.deepStrictEqual(r.frames, frames);
          assert.equal(r.parser.bufferedBytes, 0);
        },
      ),
    );
  });

  it('yields identical frames when fed one byte at a time', () => {
    const frames: Frame[] = [
      { type: 1, channel: 1, payload: Buffer.from([0, 60, 0, 40]) },
      { type: 8, channel: 0, payload: Buffer.alloc(0) },
      { type: 3, channel: 7, payload: Buffer.alloc(100, 9) },
    ];
    const stream = Buffer.concat([AMQP_0_9_1_HEADER, ...frames.map(encodeFrame)]);
    const r = recorder();
    for (const byte of stream) r.parser.push(Buffer.from([byte]));
    assert.deepStrictEqual(r.frames, frames);
  });

  it('hands frames inside one chunk over in place, without copying', () => {
    const chunk = Buffer.concat([
      encodeFrame({ type: 1, channel: 3, payload: Buffer.from('abc') }),
      encodeFrame({ type: 3, channel: 3, payload: Buffer.from('de') }),
    ]);
    const seen: [Buffer, number, number][] = [];
    const parser = new FrameParser(
      { onFrame: (_t, _c, buf, start, end) => void seen.push([buf, start, end]) },
      { expectProtocolHeader: false },
    );
    parser.push(chunk);
    assert.equal(seen.length, 2);
    assert.equal(seen[0][0], chunk);
    assert.deepEqual([seen[0][1], seen[0][2]], [7, 10]);
    assert.equal(seen[1][0], chunk);
    assert.deepEqual([seen[1][1], seen[1][2]], [18, 20]);
  });

  it('reports a foreign protocol header and ignores what follows', () => {
    const r = recorder();
    r.parser.push(Buffer.from('AMQP\x00\x00\x09'));
    assert.equal(r.mismatches.length, 0);
    r.parser.push(
      Buffer.concat([Buffer.from([0]), encodeFrame({ type: 8, channel: 0, payload: Buffer.alloc(0) })]),
    );
    assert.deepEqual(r.mismatches, [Buffer.from('AMQP\x00\x00\x09\x00')]);
    assert.equal(r.frames.length, 0);
    assert.equal(r.parser.isFailed, true);

    const http = recorder();
    http.parser.push(Buffer.from('GET / HTTP/1.1\r\n'));
    assert.deepEqual(http.mismatches, [Buffer.from('GET / HT')]);
  });

  it('enforces the frame max: 4096 before tune, then the negotiated value', () => {
    const atMax = encodeFrame({ type: 3, channel: 1, payload: Buffer.alloc(DEFAULT_PRE_TUNE_FRAME_MAX - 8) });
    const over = encodeFrame({ type: 3, channel: 1, payload: Buffer.alloc(DEFAULT_PRE_TUNE_FRAME_MAX - 7) });
    const r = recorder({ expectProtocolHeader: false });
    r.parser.push(atMax);
    assert.equal(r.frames.length, 1);
    // Rejected from the header alone, before the payload arrives.
    assertFrameError(() => r.parser.push(over.subarray(0, 7)));

    const tuned = recorder({ expectProtocolHeader: false });
    tuned.parser.setMaxFrameSize(131072);
    tuned.parser.push(over);
    assert.equal(tuned.frames.length, 1);
    assert.equal(tuned.parser.maxFrameSize, 131072);
    assert.throws(() => tuned.parser.setMaxFrameSize(0), RangeError);
  });

  it('rejects a bad frame-end octet, in place and across chunks', () => {
    const bad = encodeFrame({ type: 1, channel: 1, payload: Buffer.from([1, 2, 3]) });
    bad[bad.length - 1] = 0xcd;
    assertFrameError(() => recorder({ expectProtocolHeader: false }).parser.push(bad));
    const r = recorder({ expectProtocolHeader: false });
    r.parser.push(bad.subarray(0, 9));
    assertFrameError(() => r.parser.push(bad.subarray(9)));
  });

  it('rejects unknown frame types and heartbeats with a payload', () => {
    assertFrameError(() =>
      recorder({ expectProtocolHeader: false }).parser.push(
        encodeFrame({ type: 4, channel: 0, payload: Buffer.alloc(0) }),
      ),
    );
    assertFrameError(() =>
      recorder({ expectProtocolHeader: false }).parser.push(
        encodeFrame({ type: 8, channel: 0, payload: Buffer.from([1]) }),
      ),
    );
  });

  it('stays failed after an error and ignores further input', () => {
    const r = recorder({ expectProtocolHeader: false });
    assertFrameError(() => r.parser.push(encodeFrame({ type: 9, channel: 0, payload: Buffer.alloc(0) })));
    r.parser.push(encodeFrame({ type: 8, channel: 0, payload: Buffer.alloc(0) }));
    assert.equal(r.frames.length, 0);
    assert.equal(r.parser.isFailed, true);
  });

  it('never throws anything but CodecError on arbitrary bytes, split anywhere', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 5 }), (bytes, cuts) => {
        const r = recorder({ expectProtocolHeader: false });
        try {
          for (const part of split(Buffer.from(bytes), cuts)) r.parser.push(part);
        } catch (err) {
          assert.ok(err instanceof CodecError, String(err));
          assert.equal(err.replyCode, 501);
        }
        assert.ok(r.parser.bufferedBytes <= DEFAULT_PRE_TUNE_FRAME_MAX);
      }),
      { numRuns: 2000 },
    );
  });
});
