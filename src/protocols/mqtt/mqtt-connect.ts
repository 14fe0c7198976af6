import { randomBytes } from 'node:crypto';
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import type { Broker } from '../../core/broker.js';
import { topicNameProblem } from '../../core/topic-mapping.js';
import type { Principal } from '../../core/users.js';
import { MAX_CLIENT_ID_BYTES, type MqttLimits, type MqttSettings } from './mqtt-options.js';
import { Reason } from './reason-codes.js';
import { type WillMessage, willOfConnect } from './will.js';

/** Why a CONNECT is refused: the CONNACK reason (none: close without CONNACK, a malformed CONNECT). */
export interface ConnectRefusal {
  reason: number | undefined;
  message: string;
}

/** What a valid CONNECT asks for, within the broker's limits. */
export interface ConnectRequest {
  clientId: string;
  /** The broker chose the client id (the client sent an empty one). */
  assignedClientId: boolean;
  cleanStart: boolean;
  /** Seconds the session outlives the connection, after the broker's cap. */
  expirySeconds: number;
  requestedExpirySeconds: number;
  keepAliveSeconds: number;
  clientReceiveMaximum: number;
  clientMaximumPacketSize: number;
  will: WillMessage | undefined;
}

export interface MqttLogin {
  principal: Principal;
  vhost: string;
}

/** Checks a CONNECT's client id, will and MQTT 5 properties. */
export function connectSettings(
  packet: IConnectPacket,
  settings: MqttSettings,
): ConnectRequest | ConnectRefusal {
  const v5 = packet.protocolVersion === 5;
  const { limits } = settings;
  const cleanStart = packet.clean !== false;
  let clientId = packet.clientId;
  let assignedClientId = false;
  if (clientId.length === 0) {
    if (!v5 && !cleanStart) {
      return { reason: Reason.clientIdentifierNotValid, message: 'empty client id needs a clean session' };
    }
    clientId = `eventter-${randomBytes(12).toString('base64url')}`;
    assignedClientId = true;
  }
  if (
    Buffer.byteLength(clientId, 'utf8') > MAX_CLIENT_ID_BYTES ||
    clientId.includes('\u0000') ||
    clientId.includes('\ufffd')
  ) {
    return { reason: Reason.clientIdentifierNotValid, message: 'client id too long or not valid UTF-8' };
  }
  if (packet.username?.includes('\ufffd'))
    return { reason: undefined, message: 'user name is not valid UTF-8' };
  const will = willOfConnect(packet);
  if (will) {
    const problem = will.topic.includes('\ufffd')
      ? 'will topic is not valid UTF-8'
      : topicNameProblem(will.topic, limits);
    if (problem !== undefined) return { reason: v5 ? Reason.topicNameInvalid : undefined, message: problem };
  }
  const props = packet.properties ?? {};
  if (props.receiveMaximum === 0 || props.maximumPacketSize === 0) {
    return { reason: Reason.protocolError, message: 'receive maximum and maximum packet size must not be 0' };
  }
  if (props.authenticationMethod !== undefined) {
    return { reason: Reason.badAuthenticationMethod, message: 'enhanced authentication is not supported' };
  }
  const requestedExpirySeconds = v5
    ? (props.sessionExpiryInterval ?? 0)
    : cleanStart
      ? 0
      : limits.maxSessionExpirySeconds;
  return {
    clientId,
    assignedClientId,
    cleanStart,
    expirySeconds: Math.min(requestedExpirySeconds, limits.maxSessionExpirySeconds),
    requestedExpirySeconds,
    keepAliveSeconds: packet.keepalive ?? 0,
    clientReceiveMaximum: props.receiveMaximum ?? 0xffff,
    clientMaximumPacketSize: props.maximumPacketSize ?? Number.POSITIVE_INFINITY,
    will,
  };
}

/**
 * Logs the client in as RabbitMQ's MQTT plugin does: a user name `vhost:user` names the vhost, any other uses
 * the listener's default vhost; the password is checked against the broker's users; without a user name only
 * the configured anonymous user (if any) is used. The user must have access to the vhost.
 */
export async function authenticateConnect(
  packet: IConnectPacket,
  broker: Broker,
  settings: MqttSettings,
  remoteAddress: string | undefined,
): Promise<MqttLogin | ConnectRefusal> {
  let principal: Principal | undefined;
  let vhost = settings.defaultVhost;
  if (packet.username === undefined) {
    if (settings.anonymousUser === undefined) {
      return { reason: Reason.notAuthorized, message: 'anonymous login is not enabled' };
    }
    principal = await broker.authenticateExternal(settings.anonymousUser, remoteAddress);
    if (!principal) return { reason: Reason.notAuthorized, message: 'the anonymous user cannot log in' };
  } else {
    let user = packet.username;
    const colon = user.indexOf(':');
    if (colon > 0) {
      vhost = user.slice(0, colon);
      user = user.slice(colon + 1);
    }
    if (packet.password === undefined) {
      return { reason: Reason.badUserNameOrPassword, message: `no password for user '${user}'` };
    }
    principal = await broker.authenticate(user, packet.password.toString('utf8'), remoteAddress);
    if (!principal) return { reason: Reason.badUserNameOrPassword, message: `login as '${user}' refused` };
  }
  if (broker.vhost(vhost) === undefined) {
    return { reason: Reason.notAuthorized, message: `vhost '${vhost}' not found` };
  }
  if (principal.permissions(vhost) === undefined) {
    return {
      reason: Reason.notAuthorized,
      message: `access to vhost '${vhost}' refused for user '${principal.name}'`,
    };
  }
  return { principal, vhost };
}

/** The CONNACK of an accepted CONNECT; MQTT 5 also announces the broker's limits and what it changed. */
export function connackFor(
  version: number,
  sessionPresent: boolean,
  request: ConnectRequest,
  limits: MqttLimits,
): IConnackPacket {
  if (version !== 5) return { cmd: 'connack', returnCode: 0, sessionPresent };
  return {
    cmd: 'connack',
    reasonCode: 0,
    sessionPresent,
    properties: {
      receiveMaximum: limits.maxInflight,
      maximumPacketSize: limits.maxPacketBytes,
      topicAliasMaximum: limits.topicAliasMaximum,
      sharedSubscriptionAvailable: true,
      ...(request.expirySeconds !== request.requestedExpirySeconds
        ? { sessionExpiryInterval: request.expirySeconds }
        : {}),
      ...(request.assignedClientId ? { assignedClientIdentifier: request.clientId } : {}),
    },
  };
}
