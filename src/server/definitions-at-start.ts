import { readFile, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { DEFINITIONS_MAX_BYTES, DefinitionsError, parseDefinitionsText } from '../core/definitions-format.js';
import type { Logger } from './logger.js';
import type { DefinitionsAdmin } from './management-definitions.js';
import { StartupError } from './startup-error.js';

/**
 * The config's `definitions` file, imported at every start before clients are let in (RabbitMQ's
 * load_definitions). Importing an unchanged file changes nothing; a file that cannot be read or imported
 * stops the start (exit 1), with every problem named, rather than run a broker without its topology.
 */
export async function importDefinitionsAtStart(
  admin: DefinitionsAdmin,
  file: string,
  logger: Pick<Logger, 'info' | 'warn'>,
): Promise<void> {
  let text: string;
  try {
    if ((await stat(file)).size > DEFINITIONS_MAX_BYTES) {
      throw new StartupError(
        `definitions file ${file} is larger than ${DEFINITIONS_MAX_BYTES / 1024 / 1024} MiB`,
        {
          cause: undefined,
        },
      );
    }
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof StartupError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new StartupError(`cannot read definitions file ${file}: ${code}`, { cause: err });
  }
  try {
    const report = await admin.import(parseDefinitionsText(text), undefined, {
      user: userInfo().username,
      from: `definitions file ${file}`,
    });
    for (const warning of report.warnings) logger.warn({ definitions: file }, `definitions: ${warning}`);
    logger.info({ definitions: file, counts: report.counts }, 'definitions imported');
  } catch (err) {
    if (err instanceof DefinitionsError) {
      throw new StartupError(`definitions file ${file}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}
