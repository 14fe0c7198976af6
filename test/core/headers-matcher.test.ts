import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TypedFieldValue } from '../../src/codec/field-table.js';
import { headersMatch } from '../../src/core/headers-matcher.js';

test('x-match all needs every binding key, ignoring x- keys', () => {
  const args = { 'x-match': 'all', format: 'pdf', type: 'report', 'x-ignored': 1 };
  assert.equal(headersMatch(args, { format: 'pdf', type: 'report' }), true);
  assert.equal(headersMatch(args, { format: 'pdf' }), false);
  assert.equal(headersMatch(args, { format: 'pdf', type: 'log' }), false);
  assert.equal(headersMatch(args, undefined), false);
  assert.equal(headersMatch({}, { anything: 1 }), true, 'all with nothing to compare matches');
});

test('x-match any needs one key', () => {
  const args = { 'x-match': 'any', format: 'pdf', type: 'report' };
  assert.equal(headersMatch(args, { type: 'report' }), true);
  assert.equal(headersMatch(args, { type: 'log' }), false);
  assert.equal(headersMatch({ 'x-match': 'any' }, { type: 'log' }), false);
});

test('void binding values ask only for presence; numbers compare by value across wire types', () => {
  assert.equal(headersMatch({ k: null }, { k: 'anything' }), true);
  assert.equal(headersMatch({ k: null }, {}), false);
  assert.equal(headersMatch({ n: 1 }, { n: new TypedFieldValue('byte', 1) }), true);
  assert.equal(headersMatch({ n: 1 }, { n: 1n }), true);
  assert.equal(headersMatch({ s: 'abc' }, { s: Buffer.from('abc') }), true);
});

test('-with-x modes also compare x- keys', () => {
  assert.equal(headersMatch({ 'x-match': 'all-with-x', 'x-k': 1 }, { 'x-k': 1 }), true);
  assert.equal(headersMatch({ 'x-match': 'all-with-x', 'x-k': 1 }, { 'x-k': 2 }), false);
  assert.equal(headersMatch({ 'x-match': 'any-with-x', 'x-k': 1, j: 2 }, { 'x-k': 1 }), true);
});
