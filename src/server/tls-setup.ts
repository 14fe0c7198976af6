import type { SecureContextOptions } from 'node:tls';
import {
  describeCertificate,
  loadTlsCredentials,
  type TlsCredentials,
  TlsFileError,
  type TlsFiles,
} from '../net/tls-credentials.js';
import type { BrokerConfig } from './config.js';
import type { Logger } from './logger.js';
import { StartupError } from './startup-error.js';

/** The TLS files of the configuration, or undefined when no certificate is configured (no amqps). */
export function tlsFilesOf(config: BrokerConfig): TlsFiles | undefined {
  const { certFile, keyFile, keyPassphrase, caFile, minVersion } = config.tls;
  if (certFile === undefined || keyFile === undefined) return undefined;
  return { certFile, keyFile, keyPassphrase, caFile, minVersion };
}

/** Reads the TLS files at start; a file that cannot be used is a StartupError naming it (one line, exit 1). */
export async function loadTlsAtStart(files: TlsFiles, logger: Logger): Promise<TlsCredentials> {
  try {
    const credentials = await loadTlsCredentials(files);
    logCertificate(logger, files, credentials, 'TLS certificate loaded');
    return credentials;
  } catch (err) {
    throw err instanceof TlsFileError ? new StartupError(err.message, { cause: err }) : err;
  }
}

/**
 * SIGHUP: reads the files again and hands the new credentials to every TLS listener. New connections get
 * them; open ones keep what they negotiated. A file that fails to load leaves the current credentials in
 * place and is logged, so a half-copied renewal cannot take the listeners down.
 */
export class TlsReloader {
  private running: Promise<boolean> = Promise.resolve(true);

  constructor(
    private readonly files: TlsFiles,
    private readonly targets: ReadonlyArray<(context: SecureContextOptions) => void>,
    private readonly logger: Logger,
  ) {}

  /** Resolves true when the new credentials were applied. Reloads run one at a time, in order. */
  reload(): Promise<boolean> {
    this.running = this.running.then(() => this.reloadOnce());
    return this.running;
  }

  private async reloadOnce(): Promise<boolean> {
    let credentials: TlsCredentials;
    try {
      credentials = await loadTlsCredentials(this.files);
      for (const apply of this.targets) apply(credentials.context);
    } catch (err) {
      const file = err instanceof TlsFileError ? err.file : undefined;
      this.logger.error(
        { file, reason: (err as Error).message },
        'TLS reload failed, the current certificate stays in use',
      );
      return false;
    }
    logCertificate(this.logger, this.files, credentials, 'TLS certificate reloaded');
    return true;
  }
}

function logCertificate(logger: Logger, files: TlsFiles, credentials: TlsCredentials, message: string): void {
  const { certificate } = credentials;
  const details = {
    certFile: files.certFile,
    keyFile: files.keyFile,
    caFile: files.caFile,
    ...describeCertificate(certificate),
  };
  logger.info(details, message);
  const now = Date.now();
  if (Date.parse(certificate.validTo) < now) logger.warn(details, 'the TLS certificate has expired');
  else if (Date.parse(certificate.validFrom) > now)
    logger.warn(details, 'the TLS certificate is not valid yet');
}
