/**
 * The limits and defaults of the HTTP queue API: OpenStack Zaqar's [transport] defaults, so clients written
 * for Zaqar meet the same bounds. Times are in seconds, sizes in bytes.
 */
export const queueApiLimits = {
  maxQueuesPerPage: 20,
  maxMessagesPerPage: 20,
  maxMessagesPerClaimOrPop: 20,
  /** Size of a queue's metadata document (PUT and PATCH bodies). */
  maxQueueMetadataBytes: 64 * 1024,
  /** Size of one POST of messages (the whole JSON document). */
  maxMessagesPostBytes: 256 * 1024,
  minMessageTtl: 60,
  maxMessageTtl: 1_209_600,
  maxMessageDelay: 900,
  minClaimTtl: 60,
  maxClaimTtl: 43_200,
  minClaimGrace: 60,
  maxClaimGrace: 43_200,
  maxQueueNameLength: 64,
  maxProjectIdLength: 256,
  /** Any other request body (claims, purge): a few fields. */
  maxSmallBodyBytes: 64 * 1024,
} as const;

export const queueApiDefaults = {
  messageTtl: 3600,
  messageDelay: 0,
  claimTtl: 300,
  claimGrace: 60,
  queuesPerPage: 10,
  messagesPerPage: 10,
  messagesPerClaim: 10,
} as const;
