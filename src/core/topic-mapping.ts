/**
 * MQTT-style topics (levels separated by `/`, filters with `+` and `#`) as routing keys and binding keys of a
 * topic exchange (words separated by `.`, patterns with `*` and `#`), so slash-topic clients and AMQP clients
 * share one exchange:
 *   topic name   a/b/c  <->  routing key  a.b.c
 *   topic filter a/+/#  <->  binding key  a.*.#
 * `/` and `.` swap places rather than `.` being kept: a topic `v1.2/temp` is the routing key `v1/2.temp`, two
 * words as it has two levels, and comes back unchanged (RabbitMQ keeps the `.`, which makes it a level
 * separator on the AMQP side and a filter `v1.2/+` then misses it).
 */

/** Swaps `/` and `.`; the common case (one of them absent) is a single replaceAll. */
function swapSeparators(text: string): string {
  const slash = text.indexOf('/');
  const dot = text.indexOf('.');
  if (dot < 0) return slash < 0 ? text : text.replaceAll('/', '.');
  if (slash < 0) return text.replaceAll('.', '/');
  let out = '';
  for (const ch of text) out += ch === '/' ? '.' : ch === '.' ? '/' : ch;
  return out;
}

export function topicToRoutingKey(topic: string): string {
  return swapSeparators(topic);
}

export function routingKeyToTopic(routingKey: string): string {
  return swapSeparators(routingKey);
}

/** A valid topic filter as a binding key: `+` levels become `*` (`#` is the same in both). */
export function filterToBindingKey(filter: string): string {
  const key = swapSeparators(filter);
  if (!filter.includes('+')) return key;
  return key
    .split('.')
    .map((word) => (word === '+' ? '*' : word))
    .join('.');
}

/** A binding key as a topic filter: whole-word `*` becomes `+`. */
export function bindingKeyToFilter(bindingKey: string): string {
  const filter = swapSeparators(bindingKey);
  if (!bindingKey.includes('*')) return filter;
  return filter
    .split('/')
    .map((level) => (level === '*' ? '+' : level))
    .join('/');
}

export interface TopicLimits {
  /** Longest topic name or filter, in UTF-8 bytes. */
  maxTopicBytes: number;
  /** Most levels in a topic name or filter. */
  maxTopicLevels: number;
}

/** Why a topic name cannot be published to, or undefined when it can. */
export function topicNameProblem(topic: string, limits: TopicLimits): string | undefined {
  if (topic.length === 0) return 'empty topic name';
  const common = commonProblem(topic, limits);
  if (common) return common;
  if (topic.includes('+') || topic.includes('#')) return `wildcard in topic name '${topic}'`;
  return undefined;
}

/** Why a topic filter cannot be subscribed to, or undefined when it can. */
export function topicFilterProblem(filter: string, limits: TopicLimits): string | undefined {
  if (filter.length === 0) return 'empty topic filter';
  const common = commonProblem(filter, limits);
  if (common) return common;
  if (!filter.includes('+') && !filter.includes('#')) return undefined;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) {
      return `'#' must be a whole level and the last one in '${filter}'`;
    }
    if (level.includes('+') && level !== '+') return `'+' must be a whole level in '${filter}'`;
  }
  return undefined;
}

function commonProblem(text: string, limits: TopicLimits): string | undefined {
  if (text.includes('\u0000')) return 'U+0000 in a topic';
  if (Buffer.byteLength(text, 'utf8') > limits.maxTopicBytes) {
    return `topic longer than ${limits.maxTopicBytes} bytes`;
  }
  let levels = 1;
  for (let i = text.indexOf('/'); i >= 0; i = text.indexOf('/', i + 1)) {
    if (++levels > limits.maxTopicLevels) return `topic with more than ${limits.maxTopicLevels} levels`;
  }
  return undefined;
}

/**
 * MQTT's rule for topics starting with `$` (`$SYS/...`): a filter whose first level is a wildcard does not
 * match them. The exchange's matcher knows nothing of it, so a subscriber applies it on delivery.
 */
export function wildcardSkipsTopic(filter: string, topic: string): boolean {
  return topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'));
}
