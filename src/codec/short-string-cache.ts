/**
 * Decodes short UTF-8 strings through a small direct-mapped cache. Publishers repeat the same
 * exchange names and routing keys, and turning bytes into a JS string costs a native call
 * (~140 ns); hashing and comparing a few bytes in JS is several times cheaper. Memory is fixed:
 * SLOTS entries of at most MAX_CACHED_LENGTH bytes, overwritten on collision.
 */

const SLOTS = 1024;
const MAX_CACHED_LENGTH = 64;

const slab = Buffer.alloc(SLOTS * MAX_CACHED_LENGTH);
const lengths = new Int16Array(SLOTS).fill(-1);
const strings: string[] = new Array<string>(SLOTS).fill('');

/** The UTF-8 string in buf[start, end). */
export function decodeShortString(buf: Buffer, start: number, end: number): string {
  const len = end - start;
  if (len === 0) return '';
  if (len > MAX_CACHED_LENGTH) return buf.toString('utf8', start, end);
  // FNV-1a over the bytes.
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  const slot = (h >>> 0) & (SLOTS - 1);
  const base = slot * MAX_CACHED_LENGTH;
  if (lengths[slot] === len) {
    let j = 0;
    while (j < len && slab[base + j] === buf[start + j]) j++;
    if (j === len) return strings[slot];
  }
  const s = buf.toString('utf8', start, end);
  for (let j = 0; j < len; j++) slab[base + j] = buf[start + j];
  lengths[slot] = len;
  strings[slot] = s;
  return s;
}

const MAX_ENCODED_ENTRIES = 4096;
const encoded = new Map<string, Buffer>();

/**
 * UTF-8 bytes of a short string, cached the other way round for the delivery path (exchange
 * names, routing keys and consumer tags repeat). Bounded: the map is dropped when full.
 * The returned Buffer is shared: never modify it.
 */
export function encodeShortString(s: string): Buffer {
  let bytes = encoded.get(s);
  if (bytes !== undefined) return bytes;
  bytes = Buffer.from(s, 'utf8');
  if (s.length <= MAX_CACHED_LENGTH) {
    if (encoded.size >= MAX_ENCODED_ENTRIES) encoded.clear();
    encoded.set(s, bytes);
  }
  return bytes;
}
