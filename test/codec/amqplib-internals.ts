/**
 * amqplib's internal codec modules (not in its package exports), loaded by file path so tests can
 * check our bytes against an independent implementation that real clients use.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const root = dirname(require.resolve('amqplib'));

export interface AmqplibFrame {
  type: number;
  channel: number;
  size: number;
  payload: Buffer;
  rest: Buffer;
}

export const amqplibCodec = require(join(root, 'lib/codec.js')) as {
  encodeTable(buf: Buffer, table: unknown, offset: number): number;
  decodeFields(slice: Buffer): Record<string, unknown>;
};

export const amqplibDefs = require(join(root, 'lib/defs.js')) as {
  decode(id: number, buf: Buffer): Record<string, unknown>;
  encodeMethod(id: number, channel: number, fields: Record<string, unknown>): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
  info(id: number): { name: string; args: { name: string; type: string }[] };
};

export const amqplibFrame = require(join(root, 'lib/frame.js')) as {
  parseFrame(bin: Buffer, max: number): AmqplibFrame | false;
  decodeFrame(frame: AmqplibFrame): {
    id?: number;
    channel: number;
    size?: number;
    fields?: unknown;
    content?: Buffer;
  };
};
