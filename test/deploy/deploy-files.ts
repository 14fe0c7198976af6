/** Just enough parsing of deploy/eventter.service and deploy/Containerfile to run what they would run. */

export interface SystemdUnit {
  /** Values per key of the [Service] section, in file order (Environment= may repeat). */
  service: Map<string, string[]>;
}

export function parseSystemdUnit(text: string): SystemdUnit {
  const service = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1];
      continue;
    }
    const equals = line.indexOf('=');
    if (section !== 'Service' || equals < 0) continue;
    const key = line.slice(0, equals).trim();
    service.set(key, [...(service.get(key) ?? []), line.slice(equals + 1).trim()]);
  }
  return { service };
}

export function single(unit: SystemdUnit, key: string): string {
  const values = unit.service.get(key) ?? [];
  if (values.length !== 1) throw new Error(`[Service] ${key}= appears ${values.length} times, expected once`);
  return values[0];
}

/** Environment= lines as variables; only plain KEY=value words (no quoting) are supported. */
export function unitEnvironment(unit: SystemdUnit): Record<string, string> {
  const env: Record<string, string> = {};
  for (const value of unit.service.get('Environment') ?? []) {
    if (/["'\\]/.test(value)) throw new Error(`quoted Environment= not supported here: ${value}`);
    for (const word of value.split(/\s+/)) {
      const [key, ...rest] = word.split('=');
      env[key] = rest.join('=');
    }
  }
  return env;
}

/** TimeoutStopSec= in milliseconds ("30", "30s", "1min 30s", "500ms"). */
export function timeSpanMs(value: string): number {
  const units: Record<string, number> = { '': 1000, s: 1000, sec: 1000, ms: 1, m: 60_000, min: 60_000 };
  let total = 0;
  for (const part of value.split(/\s+/)) {
    const match = /^(\d+)([a-z]*)$/.exec(part);
    const unit = match ? units[match[2]] : undefined;
    if (!match || unit === undefined) throw new Error(`cannot read time span ${value}`);
    total += Number(match[1]) * unit;
  }
  return total;
}

export interface Containerfile {
  /** Instruction keyword (upper case) to its arguments, one entry per occurrence, in the final stage. */
  instructions: Array<{ keyword: string; args: string }>;
}

/** The last stage's instructions (what the image runs with), continuation lines joined. */
export function parseContainerfile(text: string): Containerfile {
  const logical = text.replace(/\\\n/g, ' ').split('\n');
  let instructions: Containerfile['instructions'] = [];
  for (const raw of logical) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [keyword, ...rest] = line.split(/\s+/);
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') instructions = [];
    instructions.push({ keyword: upper, args: rest.join(' ') });
  }
  return { instructions };
}

export function lastArgs(file: Containerfile, keyword: string): string | undefined {
  return file.instructions.filter((i) => i.keyword === keyword).at(-1)?.args;
}

/** ENV KEY=value ... (the legacy "ENV KEY value" form too). */
export function containerEnvironment(file: Containerfile): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of file.instructions.filter((i) => i.keyword === 'ENV')) {
    if (/["']/.test(args)) throw new Error(`quoted ENV not supported here: ${args}`);
    if (!args.split(/\s+/)[0].includes('=')) {
      const [key, ...value] = args.split(/\s+/);
      env[key] = value.join(' ');
      continue;
    }
    for (const word of args.split(/\s+/)) {
      const [key, ...rest] = word.split('=');
      env[key] = rest.join('=');
    }
  }
  return env;
}
