import type { ZaqarScenario } from '../zaqar-scenario.js';
import { claimScenarios } from './claims.js';
import { messageScenarios } from './messages.js';
import { queueScenarios } from './queues.js';
import { requestScenarios } from './requests.js';

/** Every scenario compared with the real Zaqar, in report order. */
export const zaqarScenarios: ZaqarScenario[] = [
  ...requestScenarios,
  ...queueScenarios,
  ...messageScenarios,
  ...claimScenarios,
];
