import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BrokerUnderTest } from '../helpers/broker-under-test.js';
import { startBroker } from '../helpers/broker-under-test.js';
import { QueueApiClient } from './queue-api-client.js';

/** Each scenario works in its own project: a fresh Zaqar project, and a vhost of that name in EventterMQ. */
export const projectOf = (scenarioName: string) => `zq-${scenarioName}`;

/** An EventterMQ whose config makes the scenarios' vhosts (guest may use them all, from loopback). */
export async function startBrokerWithProjects(
  scenarioNames: string[],
  dir: string,
  extraArgs: string[] = [],
  otherVhosts: string[] = [],
): Promise<BrokerUnderTest> {
  const vhosts = ['/', ...scenarioNames.map(projectOf), ...otherVhosts];
  const config = join(dir, 'zaqar-projects.json');
  await writeFile(
    config,
    JSON.stringify({
      vhosts,
      users: [{ name: 'guest', password: 'guest', vhosts, loopbackOnly: true }],
    }),
  );
  return startBroker({ dataDir: join(dir, 'data'), extraArgs: ['--config', config, ...extraArgs] });
}

export function apiFor(baseUrl: string, scenarioName: string): QueueApiClient {
  return new QueueApiClient(baseUrl, projectOf(scenarioName));
}
