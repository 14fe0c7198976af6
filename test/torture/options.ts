/** Command-line options of `npm run torture`. */
import { parseArgs } from 'node:util';
import { freshSeed } from './rng.js';

export interface TortureOptions {
  minutes: number;
  seed: number;
  segmentMaxBytes: number;
  keepData: boolean;
}

export const USAGE = `usage: npm run torture -- [options]

Randomised kill -9 torture of EventterMQ: confirm-mode publishers, acking consumers, purges and queue
deletes, the broker killed at a random moment and restarted on the same data directory, over and over.
At the end every queue is drained and an exact ledger is printed; exits 1 if a confirmed message went
missing, a phantom was delivered, or another definite defect was seen.

  --minutes N            how long to keep cycling (default 5; fractions allowed)
  --seed S               seed of the random decisions (default: fresh, printed)
  --segment-max-bytes N  broker queue segment size, small so segments roll over
                         (default 1048576, the broker's minimum)
  --keep-data            keep the temporary data directory (default: deleted at the end,
                         unless the run failed)
  -h, --help             show this help
`;

export function parseOptions(argv: string[]): TortureOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: 'string' },
      seed: { type: 'string' },
      'segment-max-bytes': { type: 'string' },
      'keep-data': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const minutes = number('--minutes', values.minutes ?? '5');
  const seed = values.seed === undefined ? freshSeed() : number('--seed', values.seed) >>> 0;
  const segmentMaxBytes = number('--segment-max-bytes', values['segment-max-bytes'] ?? '1048576');
  if (minutes <= 0) throw new Error('--minutes must be positive');
  if (!Number.isInteger(segmentMaxBytes) || segmentMaxBytes <= 0) {
    throw new Error('--segment-max-bytes must be a positive integer');
  }
  return { minutes, seed, segmentMaxBytes, keepData: values['keep-data'] ?? false };
}

function number(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new Error(`${flag}: not a number: ${text}`);
  return n;
}
