/**
 * Message ids whose fate is settled, kept compactly for the rest of a run: ids are `${prefix}-${seq}`
 * with dense sequences per prefix (cycle and publisher), so each prefix gets a growable array of body
 * sizes indexed by sequence (0 = not retired). About two bytes per message instead of a map entry.
 */
export class RetiredIds {
  private readonly byPrefix = new Map<string, Uint16Array>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  set(id: string, bodySize: number): void {
    const parsed = split(id);
    if (parsed === undefined || bodySize <= 0 || bodySize > 0xffff) throw new Error(`cannot retire id ${id}`);
    const [prefix, seq] = parsed;
    let sizes = this.byPrefix.get(prefix);
    if (sizes === undefined || seq >= sizes.length) {
      const grown = new Uint16Array(Math.max(1024, seq + 1, (sizes?.length ?? 0) * 2));
      if (sizes !== undefined) grown.set(sizes);
      sizes = grown;
      this.byPrefix.set(prefix, sizes);
    }
    if (sizes[seq] === 0) this.count += 1;
    sizes[seq] = bodySize;
  }

  /** The body size of a retired id, or undefined if it was never retired. */
  get(id: string): number | undefined {
    const parsed = split(id);
    if (parsed === undefined) return undefined;
    const size = this.byPrefix.get(parsed[0])?.[parsed[1]];
    return size === undefined || size === 0 ? undefined : size;
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }
}

function split(id: string): [string, number] | undefined {
  const dash = id.lastIndexOf('-');
  if (dash <= 0) return undefined;
  const seq = Number(id.slice(dash + 1));
  if (!Number.isInteger(seq) || seq < 0 || seq > 1e8) return undefined;
  return [id.slice(0, dash), seq];
}
