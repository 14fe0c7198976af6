import { DataDirError } from '../store/data-dir.js';
import { DataDirFormatError } from '../store/data-dir-format.js';
import { DataDirInUseError } from '../store/data-dir-lock.js';
import { SegmentFormatError } from '../store/segment-header.js';

/**
 * A start-up failure with a known cause in the machine's set-up (data directory in use or unusable, port
 * taken), not a bug: the CLI prints its message as one plain line and exits 1, without a stack trace.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  /** The system error code of the cause (EADDRINUSE, ...), so callers can still tell causes apart. */
  readonly code: string | undefined;

  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.code = systemErrorCode(options.cause);
  }
}

/** Explains a failure to open the data directory, or returns undefined if it is not a set-up problem. */
export function explainDataDirFailure(dataDir: string, err: unknown): StartupError | undefined {
  if (
    err instanceof DataDirInUseError ||
    err instanceof DataDirError ||
    err instanceof DataDirFormatError ||
    err instanceof SegmentFormatError
  ) {
    return new StartupError(err.message, { cause: err });
  }
  const code = systemErrorCode(err);
  if (code === undefined) return undefined;
  const path = (err as NodeJS.ErrnoException).path;
  const what = SYSTEM_ERRORS[code] ?? (err as Error).message;
  return new StartupError(
    `cannot use data directory ${dataDir}: ${what}${path ? ` (${path})` : ''} (${code})`,
    {
      cause: err,
    },
  );
}

/** Explains a failed listen of the named protocol, or returns undefined if it is not a set-up problem. */
export function explainListenFailure(
  protocol: string,
  portFlag: string,
  err: unknown,
): StartupError | undefined {
  const code = systemErrorCode(err);
  if (code === undefined) return undefined;
  const { address, port, hostname } = err as NodeJS.ErrnoException & {
    address?: string;
    port?: number;
    hostname?: string;
  };
  const host = address?.includes(':') ? `[${address}]` : (address ?? hostname);
  const where = host !== undefined && port !== undefined ? `${host}:${port}` : host;
  const hint = LISTEN_HINTS[code]?.(portFlag) ?? '';
  const what = SYSTEM_ERRORS[code] ?? (err as Error).message;
  return new StartupError(
    `cannot listen for ${protocol}${where ? ` on ${where}` : ''}: ${what} (${code})${hint}`,
    {
      cause: err,
    },
  );
}

const SYSTEM_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the port is already in use by another process',
  EADDRNOTAVAIL: 'the address does not belong to this machine',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTFOUND: 'the host name does not resolve',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EMFILE: 'too many open files (raise the limit: ulimit -n, systemd LimitNOFILE)',
};

const LISTEN_HINTS: Record<string, (portFlag: string) => string> = {
  EADDRINUSE: (flag) => `; stop that process or choose another port with ${flag}`,
  EACCES: (flag) => `; ports below 1024 need root or CAP_NET_BIND_SERVICE, or choose another with ${flag}`,
  EADDRNOTAVAIL: () => '; check --hosts',
  ENOTFOUND: () => '; check --hosts',
};

function systemErrorCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}
