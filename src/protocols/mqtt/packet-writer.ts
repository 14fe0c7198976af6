import mqttPacket, { type IPublishPacket, type Packet, type QoS } from 'mqtt-packet';

/**
 * Encodes the packets the broker sends. PUBLISH and the acknowledgements are on the hot path and written by
 * hand into one buffer each; rarer control packets (CONNACK, SUBACK, DISCONNECT, ...) and PUBLISH packets
 * with MQTT 5 properties go through mqtt-packet's encoder.
 */

/** Payloads up to this size are copied into the packet buffer; larger ones are written after it unchanged. */
const COPY_PAYLOAD_BYTES = 16 * 1024;

export const PINGRESP = Buffer.from([0xd0, 0x00]);

export const AckType = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 } as const;

/** PUBACK / PUBREC / PUBREL / PUBCOMP; a v5 reason code other than success is written, success is implied. */
export function ackPacket(type: number, packetId: number, reason = 0, version = 4): Buffer {
  if (version === 5 && reason !== 0) return Buffer.from([type, 3, packetId >> 8, packetId & 0xff, reason]);
  return Buffer.from([type, 2, packetId >> 8, packetId & 0xff]);
}

export function encodeControl(packet: Packet, version: number): Buffer {
  return mqttPacket.generate(packet, { protocolVersion: version });
}

export interface OutgoingPublish {
  topic: string;
  qos: QoS;
  packetId: number;
  dup: boolean;
  retain: boolean;
  payload: Buffer;
  properties?: IPublishPacket['properties'];
}

/** Encoded PUBLISH: one buffer, or a header and the payload when the payload is large. */
export function encodePublish(p: OutgoingPublish, version: number): Buffer[] {
  if (p.properties !== undefined) {
    return [
      mqttPacket.generate(
        {
          cmd: 'publish',
          topic: p.topic,
          qos: p.qos,
          messageId: p.qos > 0 ? p.packetId : undefined,
          dup: p.dup,
          retain: p.retain,
          payload: p.payload,
          properties: p.properties,
        },
        { protocolVersion: version },
      ),
    ];
  }
  const topicBytes = Buffer.byteLength(p.topic, 'utf8');
  const variable = 2 + topicBytes + (p.qos > 0 ? 2 : 0) + (version === 5 ? 1 : 0);
  const remaining = variable + p.payload.length;
  const lengthBytes = remaining < 128 ? 1 : remaining < 16384 ? 2 : remaining < 2097152 ? 3 : 4;
  const copyPayload = p.payload.length <= COPY_PAYLOAD_BYTES;
  const head = Buffer.allocUnsafe(1 + lengthBytes + variable + (copyPayload ? p.payload.length : 0));
  head[0] = 0x30 | (p.dup ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0);
  let at = 1;
  let rest = remaining;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    head[at++] = byte;
  } while (rest > 0);
  head.writeUInt16BE(topicBytes, at);
  at += 2;
  at += head.write(p.topic, at, 'utf8');
  if (p.qos > 0) {
    head.writeUInt16BE(p.packetId, at);
    at += 2;
  }
  if (version === 5) head[at++] = 0;
  if (!copyPayload) return [head, p.payload];
  p.payload.copy(head, at);
  return [head];
}

/** Bytes a PUBLISH would take on the wire without properties (for the client's maximum packet size). */
export function publishSize(topic: string, qos: QoS, payloadBytes: number, version: number): number {
  const remaining =
    2 + Buffer.byteLength(topic, 'utf8') + (qos > 0 ? 2 : 0) + (version === 5 ? 1 : 0) + payloadBytes;
  const lengthBytes = remaining < 128 ? 1 : remaining < 16384 ? 2 : remaining < 2097152 ? 3 : 4;
  return 1 + lengthBytes + remaining;
}
