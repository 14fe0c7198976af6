import type { Observation } from '../differential/scenario.js';
import type { ApiResponse, QueueApiClient } from './queue-api-client.js';

/**
 * One use of the Zaqar v2 API, run the same way against the real Zaqar and EventterMQ. `expected` is what
 * Zaqar 15.0.0 (redis store) produces, checked against Zaqar whenever it is installed and standing in for it
 * elsewhere. Where Zaqar is defective (a 500 or 503 for valid input, a wrong value), `zaqar` records what it
 * does instead and EventterMQ is held to `expected`; the scenario's comment says why.
 */
export interface ZaqarScenario {
  name: string;
  run(api: QueueApiClient, see: Normaliser): Promise<Observation>;
  expected: Observation;
  zaqar?: Observation;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const OUR_ID = /\b[0-9a-f]{24}\b/g;
const ISO_SECOND = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

/**
 * Makes two servers' answers comparable: message and claim ids become <id1>, <id2>... in order of first
 * appearance (also inside hrefs), ages become 'age' when plausible, creation times 'date'.
 */
export class Normaliser {
  private readonly labels = new Map<string, string>();

  /** The label an id got (or gets now). */
  label(id: string): string {
    let label = this.labels.get(id);
    if (label === undefined) {
      label = `<id${this.labels.size + 1}>`;
      this.labels.set(id, label);
    }
    return label;
  }

  text(s: string): string {
    return s.replace(UUID, (id) => this.label(id)).replace(OUR_ID, (id) => this.label(id));
  }

  value(v: unknown, key?: string): Observation {
    if (v === undefined) return null;
    if (typeof v === 'string') return key === 'created' && ISO_SECOND.test(v) ? 'date' : this.text(v);
    if (typeof v === 'number') return key === 'age' && v >= 0 && v <= 30 ? 'age' : v;
    if (typeof v === 'boolean' || v === null) return v;
    if (Array.isArray(v)) return v.map((x) => this.value(x));
    const out: Record<string, Observation> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = this.value(x, k);
    return out;
  }

  /** Status and normalised body; `headers` adds those headers (lower-case names). */
  response(res: ApiResponse, headers: string[] = []): Observation {
    const out: Record<string, Observation> = { status: res.status };
    if (res.body !== undefined) out.body = this.value(res.body);
    for (const h of headers) out[h] = this.value(res.headers.get(h) ?? null);
    return out;
  }

  /** Only the status and the error title (for errors whose description Zaqar words oddly). */
  status(res: ApiResponse): Observation {
    const title = (res.body as { title?: unknown } | undefined)?.title;
    return typeof title === 'string' ? { status: res.status, title } : { status: res.status };
  }
}
