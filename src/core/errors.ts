/**
 * Errors the core raises for client mistakes. Codes are AMQP 0-9-1 reply codes because they are the most
 * precise vocabulary any of our protocols has; other adapters map them (404 -> HTTP 404, 406 -> 409/400, ...).
 */
export const ReplyCode = {
  contentTooLarge: 311,
  noRoute: 312,
  noConsumers: 313,
  connectionForced: 320,
  invalidPath: 402,
  accessRefused: 403,
  notFound: 404,
  resourceLocked: 405,
  preconditionFailed: 406,
  frameError: 501,
  syntaxError: 502,
  commandInvalid: 503,
  channelError: 504,
  unexpectedFrame: 505,
  resourceError: 506,
  notAllowed: 530,
  notImplemented: 540,
  internalError: 541,
} as const;

export type ReplyCodeValue = (typeof ReplyCode)[keyof typeof ReplyCode];

const names: Record<number, string> = {
  311: 'CONTENT_TOO_LARGE',
  312: 'NO_ROUTE',
  313: 'NO_CONSUMERS',
  320: 'CONNECTION_FORCED',
  402: 'INVALID_PATH',
  403: 'ACCESS_REFUSED',
  404: 'NOT_FOUND',
  405: 'RESOURCE_LOCKED',
  406: 'PRECONDITION_FAILED',
  501: 'FRAME_ERROR',
  502: 'SYNTAX_ERROR',
  503: 'COMMAND_INVALID',
  504: 'CHANNEL_ERROR',
  505: 'UNEXPECTED_FRAME',
  506: 'RESOURCE_ERROR',
  530: 'NOT_ALLOWED',
  540: 'NOT_IMPLEMENTED',
  541: 'INTERNAL_ERROR',
};

export function replyCodeName(code: number): string {
  return names[code] ?? 'INTERNAL_ERROR';
}

/** Hard errors close the whole connection in AMQP; soft ones close only the channel. */
export function isConnectionLevel(code: number): boolean {
  return code >= 500 || code === 320 || code === 402;
}

export class BrokerError extends Error {
  constructor(
    readonly code: number,
    readonly text: string,
  ) {
    super(`${replyCodeName(code)} - ${text}`);
    this.name = 'BrokerError';
  }
}

export const notFound = (text: string) => new BrokerError(ReplyCode.notFound, text);
export const preconditionFailed = (text: string) => new BrokerError(ReplyCode.preconditionFailed, text);
export const accessRefused = (text: string) => new BrokerError(ReplyCode.accessRefused, text);
export const resourceLocked = (text: string) => new BrokerError(ReplyCode.resourceLocked, text);
export const notAllowed = (text: string) => new BrokerError(ReplyCode.notAllowed, text);
export const commandInvalid = (text: string) => new BrokerError(ReplyCode.commandInvalid, text);
export const notImplemented = (text: string) => new BrokerError(ReplyCode.notImplemented, text);
