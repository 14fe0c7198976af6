/**
 * Prints each scenario's observation against one broker, to (re)write the `expected` values from RabbitMQ:
 *   node dist/test/differential/print-observations.js --start-rabbitmq [scenario-name...]
 *   node dist/test/differential/print-observations.js amqp://guest:guest@127.0.0.1:5672 [scenario-name...]
 * A name ending in '*' selects by prefix ('stream-*': the stream scenarios). With a bare URL there is no
 * broker administration (nor the access-control fixtures), so scenarios that need it fail. Each observation is followed by whether it equals
 * what the scenario records for RabbitMQ (`rabbitmq` where set, else `expected`).
 */

import { isDeepStrictEqual } from 'node:util';
import { startRabbitMq } from '../helpers/rabbitmq.js';
import { seedRabbitMq } from './access-fixtures.js';
import { rabbitMqAdmin } from './broker-admin.js';
import type { BrokerAdmin } from './scenario.js';
import { allScenarios } from './scenarios/index.js';

const [target, ...only] = process.argv.slice(2);
if (target === undefined) {
  console.error('usage: print-observations.js --start-rabbitmq | <amqp-url> [scenario-name...]');
  process.exit(2);
}
const rabbit = target === '--start-rabbitmq' ? await startRabbitMq() : undefined;
if (target === '--start-rabbitmq' && rabbit === undefined) {
  console.error('no RabbitMQ available');
  process.exit(1);
}
if (rabbit !== undefined) await seedRabbitMq(rabbit);
const url = rabbit?.url ?? target;
const admin: BrokerAdmin | undefined = rabbit === undefined ? undefined : rabbitMqAdmin(rabbit);
try {
  const selected = (name: string) =>
    only.some((o) => (o.endsWith('*') ? name.startsWith(o.slice(0, -1)) : name === o));
  for (const scenario of allScenarios) {
    if (only.length > 0 && !selected(scenario.name)) continue;
    const started = Date.now();
    try {
      const observation = await scenario.run(url, admin);
      console.log(`// ${scenario.name} (${Date.now() - started} ms)`);
      console.log(JSON.stringify(observation, null, 2));
      const recorded = scenario.rabbitmq ?? scenario.expected;
      console.log(
        `// ${isDeepStrictEqual(observation, recorded) ? 'matches' : 'DIFFERS from'} the recorded RabbitMQ observation`,
      );
    } catch (err) {
      console.log(`// ${scenario.name} FAILED: ${(err as Error).stack}`);
    }
  }
} finally {
  await rabbit?.stop();
}
