import { DataDirFormatError } from '../store/data-dir-format.js';
import { DataDirInUseError } from '../store/data-dir-lock.js';
import { upgradeDataDir } from '../store/upgrade-v1.js';

/**
 * `eventter upgrade-data --data-dir DIR`: converts a data directory written by EventterMQ 0.1.0 to the current
 * format, with the broker stopped. Crash-safe and re-runnable (see docs/durability.md). Returns the exit code.
 */
export async function runUpgradeData(dataDir: string): Promise<number> {
  try {
    const r = await upgradeDataDir(dataDir, {
      fsync: true,
      onFile: (file) => process.stdout.write(`converted ${file}\n`),
    });
    process.stdout.write(
      `data directory ${dataDir}: format ${r.from} -> 2, ${r.converted} segment files converted, ${r.alreadyCurrent} already current\n`,
    );
    return 0;
  } catch (err) {
    const known = err instanceof DataDirInUseError || err instanceof DataDirFormatError;
    process.stderr.write(`eventter upgrade-data: ${known ? (err as Error).message : String(err)}\n`);
    return 1;
  }
}
