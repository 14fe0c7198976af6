/**
 * Permission patterns are regular expressions written by administrators (RabbitMQ's configure / write /
 * read and topic permissions). They are matched against names that clients choose, on every declare and
 * publish, so a pattern must never be able to take super-linear time: one that could backtrack
 * catastrophically is refused when it is set, not discovered when a client trips over it.
 *
 * The rule is structural and conservative: no back-references, no lookbehind, and no quantified group that
 * itself contains a quantifier or an alternation ("star height" at most 1, e.g. `(a+)+`, `(a|ab)*`).
 * Every pattern RabbitMQ's documentation and common deployments use (`.*`, `^$`, `^amq\.gen-.*`,
 * `^(orders|billing)\..*`, `^user-{username}$` after expansion) passes.
 */

export const MAX_PERMISSION_PATTERN_LENGTH = 1024;

export class PermissionPatternError extends Error {
  override name = 'PermissionPatternError';
}

/** A compiled pattern; `matches` follows RabbitMQ: unanchored search, and "" matches nothing. */
export interface PermissionPattern {
  readonly source: string;
  matches(name: string): boolean;
}

const NOTHING: PermissionPattern = { source: '', matches: () => false };
const EVERYTHING: PermissionPattern = { source: '.*', matches: () => true };

/** Why a pattern is refused, or undefined when it is safe to use. */
export function permissionPatternProblem(source: string): string | undefined {
  if (source.length > MAX_PERMISSION_PATTERN_LENGTH)
    return `is longer than ${MAX_PERMISSION_PATTERN_LENGTH} characters`;
  try {
    new RegExp(source);
  } catch (err) {
    return `is not a valid regular expression (${(err as Error).message})`;
  }
  return backtrackingProblem(source);
}

export function compilePermissionPattern(source: string): PermissionPattern {
  if (source === '') return NOTHING;
  if (source === '.*' || source === '^.*' || source === '^.*$') return EVERYTHING;
  const problem = permissionPatternProblem(source);
  if (problem) throw new PermissionPatternError(`pattern ${JSON.stringify(source.slice(0, 80))} ${problem}`);
  const re = new RegExp(source);
  return { source, matches: (name) => re.test(name) };
}

interface GroupScan {
  /** The group holds a quantifier or an alternation at any depth. */
  risky: boolean;
}

/** Walks the pattern once, tracking groups; refuses the constructs that allow exponential backtracking. */
function backtrackingProblem(source: string): string | undefined {
  const stack: GroupScan[] = [{ risky: false }];
  let lastClosed: GroupScan | null = null;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      if (/[1-9]/.test(next) || next === 'k') return 'uses a back-reference';
      i++;
      lastClosed = null;
      continue;
    }
    if (c === '[') {
      i = skipCharacterClass(source, i);
      lastClosed = null;
      continue;
    }
    if (c === '(') {
      if (source.startsWith('(?<=', i) || source.startsWith('(?<!', i)) return 'uses a lookbehind';
      stack.push({ risky: false });
      lastClosed = null;
      // (?: (?= (?! (?<name> open a group; their '?' is not a quantifier.
      if (source[i + 1] === '?') i = source[i + 2] === '<' ? source.indexOf('>', i) : i + 2;
      continue;
    }
    if (c === ')') {
      const closed = stack.pop() as GroupScan;
      if (closed.risky) stack[stack.length - 1].risky = true;
      lastClosed = closed;
      continue;
    }
    if (c === '|') {
      stack[stack.length - 1].risky = true;
      lastClosed = null;
      continue;
    }
    if (c === '*' || c === '+' || c === '?' || c === '{') {
      const isQuantifier = c !== '{' || /^\{\d+(,\d*)?\}/.test(source.slice(i));
      if (!isQuantifier) continue;
      if (c === '{') i = source.indexOf('}', i);
      // A lazy or possessive suffix belongs to this quantifier.
      if (source[i + 1] === '?') i++;
      const boundedOptional = c === '?';
      if (lastClosed?.risky && !boundedOptional) return 'repeats a group that itself repeats or alternates';
      stack[stack.length - 1].risky = true;
      lastClosed = null;
      continue;
    }
    lastClosed = null;
  }
  return undefined;
}

function skipCharacterClass(source: string, start: number): number {
  let i = start + 1;
  if (source[i] === '^') i++;
  if (source[i] === ']') i++;
  for (; i < source.length; i++) {
    if (source[i] === '\\') i++;
    else if (source[i] === ']') return i;
  }
  return source.length;
}

/** RabbitMQ expands these variables in topic permission patterns before matching. */
export function expandTopicVariables(source: string, vars: { username: string; vhost: string }): string {
  return source
    .replaceAll('{username}', escapeRegExp(vars.username))
    .replaceAll('{vhost}', escapeRegExp(vars.vhost));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
