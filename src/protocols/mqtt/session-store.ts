import type { ProtocolState } from '../../core/protocol-state.js';

/**
 * The durable part of MQTT sessions that the core's queues and bindings do not hold: how long a session
 * outlives its connection, when it was last disconnected, and the QoS 2 packet identifiers still in their
 * handshake (inbound ones waiting for PUBREL, outbound ones waiting for PUBCOMP), so exactly-once holds across
 * reconnects and restarts. Records live per vhost in the metadata store (core ProtocolState).
 */

export interface SessionRecord {
  /** Seconds the session outlives its connection; 0xFFFFFFFF = never expires. */
  expirySeconds: number;
  /** When its last connection ended (ms since the epoch); absent while connected. */
  disconnectedAt?: number;
}

const SESSION = 'session\u0000';
const QOS2_IN = 'qos2-in\u0000';
const QOS2_OUT = 'qos2-out\u0000';
const QOS2_SENT = 'qos2-sent\u0000';

export class SessionStore {
  constructor(private readonly state: ProtocolState) {}

  get(vhost: string, clientId: string): SessionRecord | undefined {
    return this.state.get(vhost, SESSION + clientId) as SessionRecord | undefined;
  }

  put(vhost: string, clientId: string, record: SessionRecord): Promise<void> {
    return this.state.put(vhost, SESSION + clientId, record);
  }

  all(vhost: string): Array<[string, SessionRecord]> {
    return this.state
      .entries(vhost, SESSION)
      .map(([key, value]) => [key.slice(SESSION.length), value as SessionRecord]);
  }

  /** Forgets the session and its QoS 2 state. */
  async delete(vhost: string, clientId: string): Promise<void> {
    const qos2 = [QOS2_IN, QOS2_OUT, QOS2_SENT].flatMap((kind) =>
      this.state.entries(vhost, `${kind}${clientId}\u0000`).map(([key]) => key),
    );
    await Promise.all([
      this.state.delete(vhost, SESSION + clientId),
      ...qos2.map((key) => this.state.delete(vhost, key)),
    ]);
  }

  /** Inbound QoS 2 packet identifiers received (PUBREC sent) and not yet released by PUBREL. */
  inboundQos2(vhost: string, clientId: string): number[] {
    return this.packetIds(vhost, `${QOS2_IN}${clientId}\u0000`);
  }

  addInboundQos2(vhost: string, clientId: string, packetId: number): Promise<void> {
    return this.state.put(vhost, `${QOS2_IN}${clientId}\u0000${packetId}`, true);
  }

  removeInboundQos2(vhost: string, clientId: string, packetId: number): Promise<void> {
    return this.state.delete(vhost, `${QOS2_IN}${clientId}\u0000${packetId}`);
  }

  /** Outbound QoS 2 messages the client has received (PUBREC) whose PUBREL is not yet completed. */
  outboundQos2(vhost: string, clientId: string): number[] {
    return this.packetIds(vhost, `${QOS2_OUT}${clientId}\u0000`);
  }

  addOutboundQos2(vhost: string, clientId: string, packetId: number): Promise<void> {
    return this.state.put(vhost, `${QOS2_OUT}${clientId}\u0000${packetId}`, true);
  }

  removeOutboundQos2(vhost: string, clientId: string, packetId: number): Promise<void> {
    return this.state.delete(vhost, `${QOS2_OUT}${clientId}\u0000${packetId}`);
  }

  /**
   * Outbound QoS 2 messages sent but not yet acknowledged with PUBREC when the connection ended: the queue
   * offset of each, by packet identifier, so the next connection resends them with the same identifier (a
   * client that already has one must recognise it).
   */
  sentQos2(vhost: string, clientId: string): Map<number, number> {
    const prefix = `${QOS2_SENT}${clientId}\u0000`;
    const byOffset = new Map<number, number>();
    for (const [key, offset] of this.state.entries(vhost, prefix)) {
      const packetId = Number(key.slice(prefix.length));
      if (typeof offset === 'number' && Number.isInteger(packetId)) byOffset.set(offset, packetId);
    }
    return byOffset;
  }

  /** Replaces the sent-QoS-2 records of a session with `byOffset` (offset -> packet identifier). */
  async putSentQos2(vhost: string, clientId: string, byOffset: Map<number, number>): Promise<void> {
    const prefix = `${QOS2_SENT}${clientId}\u0000`;
    const stale = this.state.entries(vhost, prefix).map(([key]) => key);
    const keep = new Set([...byOffset.values()].map((id) => `${prefix}${id}`));
    await Promise.all([
      ...stale.filter((key) => !keep.has(key)).map((key) => this.state.delete(vhost, key)),
      ...[...byOffset].map(([offset, id]) => this.state.put(vhost, `${prefix}${id}`, offset)),
    ]);
  }

  private packetIds(vhost: string, prefix: string): number[] {
    return this.state
      .entries(vhost, prefix)
      .map(([key]) => Number(key.slice(prefix.length)))
      .filter((id) => Number.isInteger(id) && id > 0 && id <= 0xffff);
  }
}
