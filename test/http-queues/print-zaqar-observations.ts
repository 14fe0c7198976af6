/**
 * Prints each scenario's observation against one server, to (re)write the `expected` values from Zaqar:
 *   node dist/test/http-queues/print-zaqar-observations.js --start-zaqar [scenario-name...]
 *   node dist/test/http-queues/print-zaqar-observations.js http://127.0.0.1:8888 [scenario-name...]
 * A URL must be a fresh server (scenarios assume their project starts empty). Each observation is followed by
 * whether it equals what the scenario records for Zaqar (`zaqar` where set, else `expected`).
 */

import { isDeepStrictEqual } from 'node:util';
import { startZaqar } from '../helpers/zaqar.js';
import { zaqarScenarios } from './scenarios/index.js';
import { Normaliser } from './zaqar-scenario.js';
import { apiFor } from './zaqar-world.js';

const [target, ...only] = process.argv.slice(2);
if (target === undefined) {
  console.error('usage: print-zaqar-observations.js --start-zaqar | <url> [scenario-name...]');
  process.exit(2);
}
const zaqar = target === '--start-zaqar' ? await startZaqar() : undefined;
if (target === '--start-zaqar' && zaqar === undefined) {
  console.error('no Zaqar available');
  process.exit(1);
}
const url = zaqar?.url ?? target;
try {
  for (const scenario of zaqarScenarios) {
    if (only.length > 0 && !only.includes(scenario.name)) continue;
    try {
      const observation = await scenario.run(apiFor(url, scenario.name), new Normaliser());
      console.log(`// ${scenario.name}`);
      console.log(JSON.stringify(observation, null, 2));
      const recorded = scenario.zaqar ?? scenario.expected;
      console.log(
        `// ${isDeepStrictEqual(observation, recorded) ? 'matches' : 'DIFFERS from'} the recorded observation`,
      );
    } catch (err) {
      console.log(`// ${scenario.name} FAILED: ${(err as Error).stack}`);
    }
  }
} finally {
  await zaqar?.stop();
}
