import type { FieldTable, FieldValue } from '../codec/field-table.js';
import { TypedFieldValue } from '../codec/field-table.js';

/**
 * Headers-exchange matching as RabbitMQ does it: `x-match` is `all` (default), `any`, `all-with-x` or
 * `any-with-x`; binding keys starting with `x-` are ignored unless a `-with-x` mode is used; a binding value
 * of void (null) only asks for the header to be present; values compare by value, not by wire type.
 */
export type HeadersMatchMode = 'all' | 'any' | 'all-with-x' | 'any-with-x';

export function headersMatchMode(bindingArgs: FieldTable | undefined): HeadersMatchMode | undefined {
  const mode = bindingArgs?.['x-match'];
  if (mode === undefined) return 'all';
  if (mode === 'all' || mode === 'any' || mode === 'all-with-x' || mode === 'any-with-x') return mode;
  return undefined;
}

export function headersMatch(bindingArgs: FieldTable | undefined, headers: FieldTable | undefined): boolean {
  const mode = headersMatchMode(bindingArgs) ?? 'all';
  const withX = mode === 'all-with-x' || mode === 'any-with-x';
  const any = mode === 'any' || mode === 'any-with-x';
  for (const key in bindingArgs) {
    if (key === 'x-match') continue;
    if (!withX && key.startsWith('x-')) continue;
    const expected = bindingArgs[key];
    const present = headers !== undefined && Object.hasOwn(headers, key);
    const ok = present && (expected === null || fieldValuesEqual(expected, headers[key]));
    if (any && ok) return true;
    if (!any && !ok) return false;
  }
  // Every key passed under `all` (also when there was none); no key passed under `any`.
  return !any;
}

export function fieldValuesEqual(a: FieldValue, b: FieldValue): boolean {
  if (a instanceof TypedFieldValue) a = typedScalar(a);
  if (b instanceof TypedFieldValue) b = typedScalar(b);
  if (a === b) return true;
  if (typeof a === 'bigint' || typeof b === 'bigint') {
    return (typeof a === 'number' || typeof a === 'bigint') &&
      (typeof b === 'number' || typeof b === 'bigint')
      ? Number(a) === Number(b)
      : false;
  }
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) {
    const ab = Buffer.isBuffer(a) ? a : typeof a === 'string' ? Buffer.from(a) : undefined;
    const bb = Buffer.isBuffer(b) ? b : typeof b === 'string' ? Buffer.from(b) : undefined;
    return ab !== undefined && bb !== undefined && ab.equals(bb);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => fieldValuesEqual(v, b[i]));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ak = Object.keys(a);
    const bk = Object.keys(b);
    if (ak.length !== bk.length) return false;
    return ak.every(
      (k) => Object.hasOwn(b, k) && fieldValuesEqual((a as FieldTable)[k], (b as FieldTable)[k]),
    );
  }
  return false;
}

function typedScalar(v: TypedFieldValue): FieldValue {
  const value = v.value as unknown;
  if (typeof value === 'number' || typeof value === 'bigint') return value;
  return JSON.stringify(value);
}
