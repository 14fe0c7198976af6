import type { Scenario } from '../scenario.js';
import { accessControlScenarios } from './access-control.js';
import { alternateExchange } from './alternate-exchange.js';
import { consumerScenarios } from './consumers.js';
import { deadLetteringScenarios } from './dead-lettering.js';
import { deliveryLimit } from './delivery-limit.js';
import { directReplyTo } from './direct-reply-to.js';
import { overflowScenarios } from './overflow.js';
import { policyMaxLengthDlx } from './policy.js';
import { priorityScenarios } from './priority.js';
import { streamConsumeScenarios } from './streams-consume.js';
import { streamDeclareScenarios } from './streams-declare.js';
import { streamIntendedScenarios } from './streams-intended.js';
import { streamPublishScenarios } from './streams-publish.js';

/** RabbitMQ streams (x-queue-type: stream). */
export const streamScenarios: Scenario[] = [
  ...streamDeclareScenarios,
  ...streamConsumeScenarios,
  ...streamPublishScenarios,
  ...streamIntendedScenarios,
];

/** Every differential scenario, in report order. */
export const allScenarios: Scenario[] = [
  ...deadLetteringScenarios,
  ...overflowScenarios,
  ...priorityScenarios,
  deliveryLimit,
  ...consumerScenarios,
  alternateExchange,
  directReplyTo,
  policyMaxLengthDlx,
  ...streamScenarios,
  ...accessControlScenarios,
];
