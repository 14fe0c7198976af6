import assert from 'node:assert/strict';
import { test } from 'node:test';
import { messageIdOf, offsetOfMessageId } from '../../src/core/message-id.js';

test('a message id names its offset in its own queue only', () => {
  for (const offset of [0, 1, 255, 4096, 2 ** 32 + 7, Number.MAX_SAFE_INTEGER]) {
    const id = messageIdOf('queue-a', offset);
    assert.match(id, /^[0-9a-f]{24}$/);
    assert.equal(offsetOfMessageId('queue-a', id), offset);
    assert.equal(offsetOfMessageId('queue-b', id), undefined, 'a queue declared again has other ids');
  }
  assert.notEqual(messageIdOf('queue-a', 1), messageIdOf('queue-a', 2));
});

test('malformed ids name nothing', () => {
  const good = messageIdOf('queue-a', 9);
  for (const id of ['', 'nonsense', good.toUpperCase(), `${good}0`, good.slice(1), `${good.slice(0, 23)}g`]) {
    assert.equal(offsetOfMessageId('queue-a', id), undefined, id);
  }
  const tooBig = `${good.slice(0, 8)}${'f'.repeat(16)}`;
  assert.equal(offsetOfMessageId('queue-a', tooBig), undefined, 'beyond a safe integer');
});
