/** MQTT 5 reason codes the broker sends (spec section 2.4), and MQTT 3.1.1's CONNACK return codes. */
export const Reason = {
  success: 0x00,
  /** SUBACK: granted QoS 1 / 2. */
  grantedQos1: 0x01,
  grantedQos2: 0x02,
  disconnectWithWill: 0x04,
  noMatchingSubscribers: 0x10,
  noSubscriptionExisted: 0x11,
  unspecifiedError: 0x80,
  malformedPacket: 0x81,
  protocolError: 0x82,
  implementationSpecificError: 0x83,
  unsupportedProtocolVersion: 0x84,
  clientIdentifierNotValid: 0x85,
  badUserNameOrPassword: 0x86,
  notAuthorized: 0x87,
  serverUnavailable: 0x88,
  serverBusy: 0x89,
  serverShuttingDown: 0x8b,
  badAuthenticationMethod: 0x8c,
  keepAliveTimeout: 0x8d,
  sessionTakenOver: 0x8e,
  topicFilterInvalid: 0x8f,
  topicNameInvalid: 0x90,
  packetIdentifierInUse: 0x91,
  packetIdentifierNotFound: 0x92,
  receiveMaximumExceeded: 0x93,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  payloadFormatInvalid: 0x99,
  retainNotSupported: 0x9a,
  qosNotSupported: 0x9b,
  sharedSubscriptionsNotSupported: 0x9e,
  subscriptionIdentifiersNotSupported: 0xa1,
  wildcardSubscriptionsNotSupported: 0xa2,
} as const;

/** MQTT 3.1 / 3.1.1 CONNACK return codes. */
export const ConnackV3 = {
  accepted: 0,
  unacceptableProtocolVersion: 1,
  identifierRejected: 2,
  serverUnavailable: 3,
  badUserNameOrPassword: 4,
  notAuthorized: 5,
} as const;

/** The 3.1.1 return code a v5 CONNACK reason code corresponds to. */
export function connackV3Code(reason: number): number {
  switch (reason) {
    case Reason.success:
      return ConnackV3.accepted;
    case Reason.unsupportedProtocolVersion:
      return ConnackV3.unacceptableProtocolVersion;
    case Reason.clientIdentifierNotValid:
      return ConnackV3.identifierRejected;
    case Reason.badUserNameOrPassword:
      return ConnackV3.badUserNameOrPassword;
    case Reason.notAuthorized:
      return ConnackV3.notAuthorized;
    default:
      return ConnackV3.serverUnavailable;
  }
}

/** SUBACK failure in MQTT 3.1.1 (one code for every refusal). */
export const SUBACK_FAILURE_V3 = 0x80;

/** A protocol violation: the connection ends with this reason (a DISCONNECT in v5, a plain close before). */
export class MqttProtocolError extends Error {
  constructor(
    readonly reason: number,
    message: string,
  ) {
    super(message);
    this.name = 'MqttProtocolError';
  }
}
