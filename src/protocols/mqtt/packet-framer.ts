import { isUtf8 } from 'node:buffer';

/**
 * Cuts the byte stream into whole MQTT packets before the codec sees them, so the packet size limit is
 * enforced from the fixed header alone (an oversize packet is refused before its body is buffered), and
 * checks the UTF-8 of the strings that become topics on the raw bytes (the codec decodes invalid UTF-8
 * into U+FFFD instead of refusing it).
 */

export type FramerError = 'malformed-length' | 'too-large';

const MAX_LENGTH_BYTES = 4;

export class PacketFramer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Total size of the packet at the head of `pending` once its header is known; 0 before. */
  private need = 0;

  constructor(public maxPacketBytes: number) {}

  /** Bytes received but not yet part of a complete packet. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /**
   * Feeds received bytes. `onPacket` gets each complete packet (a view, valid until it returns) and returns
   * false to stop (the connection is closing). Returns an error for a packet that cannot be accepted.
   */
  push(chunk: Buffer, onPacket: (packet: Buffer) => boolean): FramerError | undefined {
    let buf = chunk;
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.need > 0 && this.pendingBytes < this.need) return undefined;
      buf = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.need = 0;
    }
    let pos = 0;
    while (pos < buf.length) {
      const total = packetSize(buf, pos);
      if (total === -2) return 'malformed-length';
      if (total > this.maxPacketBytes) return 'too-large';
      if (total === -1 || buf.length - pos < total) {
        const rest = buf.subarray(pos);
        // A copy: the rest of a large chunk must not pin the whole chunk while it waits.
        this.pending.push(pos === 0 && rest.length === buf.length ? rest : Buffer.from(rest));
        this.pendingBytes = rest.length;
        this.need = total === -1 ? 0 : total;
        return undefined;
      }
      const packet = buf.subarray(pos, pos + total);
      pos += total;
      if (!onPacket(packet)) return undefined;
    }
    return undefined;
  }
}

/** Size of the packet starting at pos (fixed header included); -1 if its header is incomplete, -2 if malformed. */
function packetSize(buf: Buffer, pos: number): number {
  let value = 0;
  let multiplier = 1;
  for (let i = 1; i <= MAX_LENGTH_BYTES; i++) {
    if (pos + i >= buf.length) return -1;
    const byte = buf[pos + i];
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return 1 + i + value;
    multiplier *= 128;
  }
  return -2;
}

/** Where the variable header starts (after the fixed header's length bytes). */
function bodyStart(packet: Buffer): number {
  let i = 1;
  while (i < packet.length && (packet[i] & 0x80) !== 0) i++;
  return i + 1;
}

/** Skips a v5 property block (a variable byte integer length and that many bytes); -1 if truncated. */
function skipProperties(packet: Buffer, at: number): number {
  let length = 0;
  let multiplier = 1;
  for (let i = 0; i < MAX_LENGTH_BYTES; i++) {
    if (at >= packet.length) return -1;
    const byte = packet[at++];
    length += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return at + length;
    multiplier *= 128;
  }
  return -1;
}

const PUBLISH = 3;
const SUBSCRIBE = 8;
const UNSUBSCRIBE = 10;

/**
 * False when a topic in a PUBLISH, or a filter in a SUBSCRIBE or UNSUBSCRIBE, is not valid UTF-8. Packets too
 * short to hold what they announce pass: the codec refuses them as malformed.
 */
export function topicsAreUtf8(packet: Buffer, protocolVersion: number): boolean {
  const type = packet[0] >> 4;
  let at = bodyStart(packet);
  if (type === PUBLISH) {
    if (at + 2 > packet.length) return true;
    const length = packet.readUInt16BE(at);
    return at + 2 + length > packet.length || isUtf8(packet.subarray(at + 2, at + 2 + length));
  }
  if (type !== SUBSCRIBE && type !== UNSUBSCRIBE) return true;
  at += 2; // packet identifier
  if (protocolVersion === 5) {
    at = skipProperties(packet, at);
    if (at < 0) return true;
  }
  while (at + 2 <= packet.length) {
    const length = packet.readUInt16BE(at);
    const end = at + 2 + length;
    if (end > packet.length) return true;
    if (!isUtf8(packet.subarray(at + 2, end))) return false;
    at = end + (type === SUBSCRIBE ? 1 : 0);
  }
  return true;
}
