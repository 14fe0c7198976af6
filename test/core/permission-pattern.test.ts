import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compilePermissionPattern,
  expandTopicVariables,
  MAX_PERMISSION_PATTERN_LENGTH,
  PermissionPatternError,
  permissionPatternProblem,
} from '../../src/core/permission-pattern.js';

describe('permission patterns', () => {
  it('match as RabbitMQ does: an unanchored search, and the empty pattern matches nothing', () => {
    assert.equal(compilePermissionPattern('.*').matches(''), true);
    assert.equal(compilePermissionPattern('').matches(''), false);
    assert.equal(compilePermissionPattern('').matches('anything'), false);
    assert.equal(compilePermissionPattern('order').matches('new-orders'), true);
    assert.equal(compilePermissionPattern('^order').matches('new-orders'), false);
    assert.equal(compilePermissionPattern('^$').matches(''), true);
    assert.equal(compilePermissionPattern('^$').matches('x'), false);
    assert.equal(compilePermissionPattern('^amq\\.gen-.*').matches('amq.gen-abc'), true);
    assert.equal(compilePermissionPattern('^(orders|billing)\\..*').matches('billing.eu'), true);
    assert.equal(compilePermissionPattern('^(orders|billing)\\..*').matches('audit.eu'), false);
  });

  it('accepts the patterns deployments use', () => {
    for (const p of [
      '.*',
      '^$',
      '^amq\\.gen.*',
      '^(a|b)$',
      '(?:x)+',
      '[a-z]+-\\d{1,3}',
      '(ab)+c',
      '(a|b)?',
      'x{2,}',
    ])
      assert.equal(permissionPatternProblem(p), undefined, p);
  });

  it('refuses patterns that could backtrack catastrophically, before they are ever matched', () => {
    const cases: Array<[string, RegExp]> = [
      ['(a+)+$', /repeats a group/],
      ['(a|aa)*$', /repeats a group/],
      ['((ab)*)+', /repeats a group/],
      ['(x*){3,}', /repeats a group/],
      ['(.*a){20}', /repeats a group/],
      ['(a)\\1', /back-reference/],
      ['(?<=a)b', /lookbehind/],
      ['(', /not a valid regular expression/],
      ['x'.repeat(MAX_PERMISSION_PATTERN_LENGTH + 1), /longer than/],
    ];
    for (const [p, reason] of cases) {
      assert.match(permissionPatternProblem(p) ?? '', reason, p);
      assert.throws(() => compilePermissionPattern(p), PermissionPatternError);
    }
  });

  it('does not take long on a hostile name with an accepted pattern', () => {
    // With a refused pattern such as (a+)+$ this input would take minutes; accepted ones stay linear.
    const pattern = compilePermissionPattern('^(a|b)?[a-z]+x$');
    assert.equal(pattern.matches(`${'a'.repeat(50_000)}!`), false);
  });

  it('expands {username} and {vhost} literally in topic patterns', () => {
    assert.equal(expandTopicVariables('^{username}\\.', { username: 'a.b', vhost: '/' }), '^a\\.b\\.');
    const p = compilePermissionPattern(
      expandTopicVariables('^x\\.{vhost}$', { username: 'u', vhost: 'v(1)' }),
    );
    assert.equal(p.matches('x.v(1)'), true);
    assert.equal(p.matches('x.v1'), false);
  });
});
