/**
 * Latency histogram with log-linear buckets (64 per power of two, ~1.6% precision) over microseconds:
 * fixed memory, O(1) record, no object per sample.
 */
const SUB_BITS = 6;
const SUB = 1 << SUB_BITS;
const LINEAR_LIMIT = SUB * 2; // values below are exact
const MAX_MICROS = 0xffff_ffff;
const BUCKETS = LINEAR_LIMIT + (32 - SUB_BITS - 1) * SUB;

function bucketOf(micros: number): number {
  if (micros < LINEAR_LIMIT) return micros;
  const msb = 31 - Math.clz32(micros);
  const shift = msb - SUB_BITS;
  return LINEAR_LIMIT + (msb - SUB_BITS - 1) * SUB + ((micros >>> shift) - SUB);
}

/** Middle of the value range a bucket covers, in microseconds. */
function bucketMiddle(index: number): number {
  if (index < LINEAR_LIMIT) return index;
  const k = index - LINEAR_LIMIT;
  const msb = Math.floor(k / SUB) + SUB_BITS + 1;
  const shift = msb - SUB_BITS;
  const low = ((k % SUB) + SUB) * 2 ** shift;
  return low + 2 ** shift / 2;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  private maxMicros = 0;

  recordMs(ms: number): void {
    let micros = Math.round(ms * 1000);
    if (!(micros >= 0)) micros = 0; // clock steps and NaN count as zero
    if (micros > MAX_MICROS) micros = MAX_MICROS;
    this.counts[bucketOf(micros)]++;
    this.count++;
    if (micros > this.maxMicros) this.maxMicros = micros;
  }

  /** The value at quantile q (0 < q <= 1) in milliseconds; 0 when empty. */
  quantileMs(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(bucketMiddle(i), this.maxMicros) / 1000;
    }
    return this.maxMicros / 1000;
  }

  get maxMs(): number {
    return this.maxMicros / 1000;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.maxMicros = 0;
  }
}
