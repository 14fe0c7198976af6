import { encodeFieldTable, type FieldTable } from '../codec/field-table.js';

/** A stable identity for a field table (binding arguments), independent of key order. */
export function fieldTableKey(table: FieldTable | undefined): string {
  if (!table) return '';
  const keys = Object.keys(table);
  if (keys.length === 0) return '';
  keys.sort();
  const sorted: FieldTable = {};
  for (const k of keys) sorted[k] = table[k];
  return encodeFieldTable(sorted).toString('base64');
}
