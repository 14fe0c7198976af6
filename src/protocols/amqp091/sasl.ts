import { decodeFieldTable } from '../../codec/field-table.js';

const PASSWORD_MECHANISMS = ['PLAIN', 'AMQPLAIN'] as const;

/** The client proves who it is outside AMQP: a verified TLS client certificate. */
export const EXTERNAL = 'EXTERNAL';

/** connection.start's mechanisms: EXTERNAL only where the transport verified a client certificate. */
export function offeredMechanisms(verifiedPeer: boolean): string[] {
  return verifiedPeer ? [...PASSWORD_MECHANISMS, EXTERNAL] : [...PASSWORD_MECHANISMS];
}

export interface SaslCredentials {
  username: string;
  password: string;
}

/** Parses a start-ok response for PLAIN (authzid NUL authcid NUL password) or AMQPLAIN (a field table). */
export function parseSaslResponse(mechanism: string, response: Buffer): SaslCredentials | undefined {
  if (mechanism === 'PLAIN') {
    const first = response.indexOf(0);
    const second = first < 0 ? -1 : response.indexOf(0, first + 1);
    if (first < 0 || second < 0) return undefined;
    return {
      username: response.subarray(first + 1, second).toString('utf8'),
      password: response.subarray(second + 1).toString('utf8'),
    };
  }
  if (mechanism === 'AMQPLAIN') {
    // AMQPLAIN sends the table body without its u32 length prefix.
    const prefixed = Buffer.allocUnsafe(response.length + 4);
    prefixed.writeUInt32BE(response.length, 0);
    response.copy(prefixed, 4);
    try {
      const { table } = decodeFieldTable(prefixed, 0);
      const login = table.LOGIN;
      const password = table.PASSWORD;
      const text = (v: unknown) =>
        typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
      const u = text(login);
      const p = text(password);
      return u === undefined || p === undefined ? undefined : { username: u, password: p };
    } catch {
      return undefined;
    }
  }
  return undefined;
}
