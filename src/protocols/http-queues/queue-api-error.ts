import { BrokerError, ReplyCode } from '../../core/errors.js';

/**
 * An HTTP queue API failure as Zaqar reports it: a status and a JSON body `{title, description}`, with
 * Zaqar's titles, so clients that match on them keep working.
 */
export class QueueApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly title: string,
    readonly description: string,
    readonly headers: Record<string, string> = {},
    /** False for the rare answer sent without a body (406: the client accepts no JSON). */
    readonly withBody = true,
  ) {
    super(`${title}: ${description}`);
    this.name = 'QueueApiError';
  }

  get body(): { title: string; description: string } {
    return { title: this.title, description: this.description };
  }
}

/** A query or header value Zaqar's validator refuses. */
export const invalidRequest = (description: string) =>
  new QueueApiError(400, 'Invalid API request', description);

/** A request body that does not parse or has the wrong shape. */
export const invalidBody = (description: string) =>
  new QueueApiError(400, 'Invalid request body', description);

export const notFound = (description: string) => new QueueApiError(404, 'Not found', description);

export const conflict = (description: string) => new QueueApiError(409, 'Resource conflict', description);

/** A core refusal in HTTP terms: 403 stays 403, 404 stays 404, an exclusive queue is a conflict, the rest 400. */
export function fromBrokerError(err: BrokerError): QueueApiError {
  switch (err.code) {
    case ReplyCode.accessRefused:
      return new QueueApiError(403, 'Not authorized', err.text);
    case ReplyCode.notFound:
      return notFound(err.text);
    case ReplyCode.resourceLocked:
      return conflict(err.text);
    default:
      return invalidRequest(err.text);
  }
}

export function isBrokerError(err: unknown): err is BrokerError {
  return err instanceof BrokerError;
}
