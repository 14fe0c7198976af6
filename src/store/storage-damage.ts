/**
 * What recovery found damaged in a store file and skipped: the byte range it could not read and the offsets
 * whose records were in it. Reported through the log and the health endpoint, never silently dropped.
 */
export interface StorageDamage {
  file: string;
  /** Damaged bytes [fromByte, toByte) of the file. */
  fromByte: number;
  toByte: number;
  /** Offsets [firstOffset, lastOffset] of the records lost with them; lastOffset < firstOffset: none. */
  firstOffset: number;
  lastOffset: number;
}

export function describeDamage(d: StorageDamage): string {
  const lost =
    d.lastOffset < d.firstOffset
      ? 'no record lost'
      : d.lastOffset === d.firstOffset
        ? `lost offset ${d.firstOffset}`
        : `lost offsets ${d.firstOffset}..${d.lastOffset} (${d.lastOffset - d.firstOffset + 1} records)`;
  return `damaged bytes ${d.fromByte}..${d.toByte} of ${d.file} skipped; ${lost}`;
}
