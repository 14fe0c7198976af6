/** Every scenario, in the order a full run goes through them. */
import type { Scenario } from '../scenario.js';
import { backlogScenario } from './backlog.js';
import { endToEndScenario } from './end-to-end.js';
import { fanOutScenario } from './fan-out.js';
import { fixedRateLatencyScenario } from './fixed-rate-latency.js';
import { largeBodiesScenario } from './large-bodies.js';
import { manyQueuesScenario } from './many-queues.js';
import { persistentScenario } from './persistent-confirms.js';

export const ALL_SCENARIOS: readonly Scenario[] = [
  endToEndScenario,
  persistentScenario,
  largeBodiesScenario,
  fanOutScenario,
  manyQueuesScenario,
  fixedRateLatencyScenario,
  backlogScenario,
];

export function findScenario(id: string): Scenario | undefined {
  return ALL_SCENARIOS.find((s) => s.id === id);
}
