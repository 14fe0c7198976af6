/**
 * AMQP reply codes the codec itself can raise. The connection turns a CodecError into a
 * connection.close (these are all hard errors) carrying `replyCode`.
 */
export const CodecReplyCode = {
  FRAME_ERROR: 501,
  SYNTAX_ERROR: 502,
  COMMAND_INVALID: 503,
  UNEXPECTED_FRAME: 505,
  NOT_IMPLEMENTED: 540,
} as const;

export type CodecReplyCodeValue = (typeof CodecReplyCode)[keyof typeof CodecReplyCode];

/** Malformed or unencodable wire data. Never thrown for anything but bad bytes or bad values. */
export class CodecError extends Error {
  override readonly name = 'CodecError';

  constructor(
    readonly replyCode: CodecReplyCodeValue,
    message: string,
  ) {
    super(message);
  }
}

export function syntaxError(message: string): CodecError {
  return new CodecError(CodecReplyCode.SYNTAX_ERROR, message);
}

export function frameError(message: string): CodecError {
  return new CodecError(CodecReplyCode.FRAME_ERROR, message);
}
