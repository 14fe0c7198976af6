/**
 * Prints each scenario's observation against one broker, to (re)write the `expected` values from RabbitMQ:
 *   node dist/test/differential/print-observations.js amqp://guest:guest@127.0.0.1:5672 [scenario-name...]
 */
import { allScenarios } from './scenarios/index.js';

const [url, ...only] = process.argv.slice(2);
if (url === undefined) {
  console.error('usage: print-observations.js <amqp-url> [scenario-name...]');
  process.exit(2);
}
for (const scenario of allScenarios) {
  if (only.length > 0 && !only.includes(scenario.name)) continue;
  const started = Date.now();
  try {
    const observation = await scenario.run(url);
    console.log(`// ${scenario.name} (${Date.now() - started} ms)`);
    console.log(JSON.stringify(observation, null, 2));
  } catch (err) {
    console.log(`// ${scenario.name} FAILED: ${(err as Error).stack}`);
  }
}
