import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A script of the workplace's shared tools: `../shared/tools` beside the repository (how CI lays it out),
 * else /work/shared/tools. This file runs from dist/test/helpers in the repository.
 */
export function sharedToolPath(script: string): string {
  const repository = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const beside = join(repository, '..', 'shared', 'tools', script);
  return existsSync(beside) ? beside : join('/work/shared/tools', script);
}
