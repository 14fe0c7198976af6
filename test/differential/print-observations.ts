/**
 * Prints each scenario's observation against one broker, to (re)write the `expected` values from RabbitMQ:
 *   node dist/test/differential/print-observations.js --start-rabbitmq [scenario-name...]
 *   node dist/test/differential/print-observations.js amqp://guest:guest@127.0.0.1:5672 [scenario-name...]
 * With a bare URL there is no broker administration, so scenarios that need it fail.
 */
import { startRabbitMq } from '../helpers/rabbitmq.js';
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
const url = rabbit?.url ?? target;
const admin: BrokerAdmin | undefined = rabbit === undefined ? undefined : rabbitMqAdmin(rabbit);
try {
  for (const scenario of allScenarios) {
    if (only.length > 0 && !only.includes(scenario.name)) continue;
    const started = Date.now();
    try {
      const observation = await scenario.run(url, admin);
      console.log(`// ${scenario.name} (${Date.now() - started} ms)`);
      console.log(JSON.stringify(observation, null, 2));
    } catch (err) {
      console.log(`// ${scenario.name} FAILED: ${(err as Error).stack}`);
    }
  }
} finally {
  await rabbit?.stop();
}
