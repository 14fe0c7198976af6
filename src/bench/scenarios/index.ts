/** Every scenario, in the order a full run goes through them. */
import type { Scenario } from '../scenario.js';
import { backlogScenario } from './backlog.js';
import { endToEndScenario } from './end-to-end.js';
import { fanOutScenario } from './fan-out.js';
import { fixedRateLatencyScenario } from './fixed-rate-latency.js';
import { largeBodiesScenario } from './large-bodies.js';
import { manyConnectionsScenario } from './many-connections.js';
import { manyQueuesScenario } from './many-queues.js';
import { persistentScenario } from './persistent-confirms.js';

/** What runs when no scenario is named (and for "all"). */
export const DEFAULT_SCENARIOS: readonly Scenario[] = [
  endToEndScenario,
  persistentScenario,
  largeBodiesScenario,
  fanOutScenario,
  manyQueuesScenario,
  fixedRateLatencyScenario,
  backlogScenario,
];

/**
 * Every known scenario. The ones outside DEFAULT_SCENARIOS run only when named: `connections` holds
 * 10,000 sockets and needs a broker (and ulimit -n) configured for that.
 */
export const ALL_SCENARIOS: readonly Scenario[] = [...DEFAULT_SCENARIOS, manyConnectionsScenario];

export function findScenario(id: string): Scenario | undefined {
  return ALL_SCENARIOS.find((s) => s.id === id);
}
