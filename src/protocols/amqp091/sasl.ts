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

/** Credentials, or why the response cannot be read (`invalid`) or is refused as asked (`refused`). */
export type SaslResult =
  | { credentials: SaslCredentials; invalid?: undefined; refused?: undefined }
  | { credentials?: undefined; invalid: string; refused?: undefined }
  | { credentials?: undefined; invalid?: undefined; refused: string };

const text = (v: unknown) =>
  typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : undefined;

/**
 * Parses a start-ok response for PLAIN (RFC 4616: authzid NUL authcid NUL password) or AMQPLAIN (a field
 * table without its length prefix, holding LOGIN and PASSWORD). Nothing of the response is echoed in the
 * reasons: it holds a password.
 */
export function parseSaslResponse(mechanism: string, response: Buffer): SaslResult {
  if (mechanism === 'PLAIN') {
    const first = response.indexOf(0);
    const second = first < 0 ? -1 : response.indexOf(0, first + 1);
    if (first < 0 || second < 0 || response.indexOf(0, second + 1) >= 0) {
      return { invalid: 'PLAIN response invalid: expected [authzid] NUL username NUL password' };
    }
    const authzid = response.subarray(0, first).toString('utf8');
    const username = response.subarray(first + 1, second).toString('utf8');
    // Acting as someone else than the user who proves the password is not something we support.
    if (authzid !== '' && authzid !== username) {
      return { refused: `user '${username}' asked to act as '${authzid}'` };
    }
    return { credentials: { username, password: response.subarray(second + 1).toString('utf8') } };
  }
  // AMQPLAIN sends the table body without its u32 length prefix.
  const prefixed = Buffer.allocUnsafe(response.length + 4);
  prefixed.writeUInt32BE(response.length, 0);
  response.copy(prefixed, 4);
  let table: Record<string, unknown>;
  try {
    table = decodeFieldTable(prefixed, 0).table;
  } catch {
    return { invalid: 'AMQPLAIN response invalid: not a field table' };
  }
  if (table.LOGIN === undefined || table.PASSWORD === undefined) {
    return { invalid: 'AMQPLAIN auth info is missing LOGIN or PASSWORD field' };
  }
  const username = text(table.LOGIN);
  const password = text(table.PASSWORD);
  if (username === undefined || password === undefined) {
    return { invalid: 'AMQPLAIN auth info uses unsupported type for LOGIN or PASSWORD field' };
  }
  return { credentials: { username, password } };
}
