import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import { connect } from '../../helpers/amqp-client.js';
import {
  type InProcessBroker,
  nonLoopbackAddress,
  startInProcessBroker,
} from '../../helpers/in-process-broker.js';
import {
  arg,
  type CloseReason,
  decodeClose,
  methodFrame,
  methods,
  PROTOCOL_HEADER,
  RawAmqpClient,
} from '../../helpers/raw-amqp-client.js';
import { ReplyCode } from '../../helpers/reply-codes.js';

/**
 * The login path against malformed and hostile input: every bad start-ok gets a clear connection.close (never a
 * crash), over-long names and passwords are refused unhashed, and guest stays loopback-only.
 */

let b: InProcessBroker;
const remoteAddress = nonLoopbackAddress();

before(async () => {
  b = await startInProcessBroker({ hosts: remoteAddress ? ['127.0.0.1', remoteAddress] : ['127.0.0.1'] });
  await b.addUser('app', 'app-pw', { configure: '.*', write: '.*', read: '.*' });
  await b.broker.putVhost('closed-vhost');
});

after(async () => {
  await b.close();
});

const LOGIN_REFUSED = (mechanism: string) =>
  `ACCESS_REFUSED - Login was refused using authentication mechanism ${mechanism}. For details see the broker logfile.`;

/** Sends start-ok with this mechanism and response; returns the server's close, or 'tune' when it accepted. */
async function startOk(
  mechanism: string,
  response: Buffer,
  host = '127.0.0.1',
): Promise<CloseReason | 'tune'> {
  const raw = await RawAmqpClient.connect(b.port, host);
  try {
    await raw.write(PROTOCOL_HEADER);
    await raw.expectMethod(10, 10);
    await raw.write(methods.startOkWith(mechanism, response));
    const m = await raw.readMethod();
    assert.ok(m, 'the server dropped the socket without a connection.close');
    if (m.classId === 10 && m.methodId === 30) return 'tune';
    assert.deepEqual([m.classId, m.methodId], [10, 50], 'expected connection.tune or connection.close');
    await raw.write(methodFrame(0, 10, 51));
    await raw.waitForSocketClose();
    return decodeClose(m.args);
  } finally {
    raw.destroy();
  }
}

const plain = (text: string) => Buffer.from(text, 'utf8');

function amqplain(fields: Array<[string, string, Buffer]>): Buffer {
  return Buffer.concat(
    fields.map(([key, type, value]) => Buffer.concat([arg.shortstr(key), Buffer.from(type), value])),
  );
}

const PLAIN_INVALID: CloseReason = {
  replyCode: ReplyCode.SYNTAX_ERROR,
  replyText: 'SYNTAX_ERROR - PLAIN response invalid: expected [authzid] NUL username NUL password',
  classId: 10,
  methodId: 11,
};

describe('malformed SASL responses', () => {
  test('PLAIN without NULs, with one NUL, or with a third NUL: 502 SYNTAX_ERROR', async () => {
    assert.deepEqual(await startOk('PLAIN', plain('appapp-pw')), PLAIN_INVALID);
    assert.deepEqual(await startOk('PLAIN', plain('\u0000appapp-pw')), PLAIN_INVALID);
    assert.deepEqual(await startOk('PLAIN', plain('\u0000app\u0000app-pw\u0000')), PLAIN_INVALID);
    assert.deepEqual(await startOk('PLAIN', Buffer.alloc(0)), PLAIN_INVALID);
  });

  test('PLAIN with an authzid: accepted when it names the same user, refused (403) otherwise', async () => {
    assert.equal(await startOk('PLAIN', plain('app\u0000app\u0000app-pw')), 'tune');
    assert.deepEqual(await startOk('PLAIN', plain('guest\u0000app\u0000app-pw')), {
      replyCode: ReplyCode.ACCESS_REFUSED,
      replyText: LOGIN_REFUSED('PLAIN'),
      classId: 0,
      methodId: 0,
    });
  });

  test('AMQPLAIN: garbage, a missing PASSWORD or non-text fields are 502; a good table logs in', async () => {
    const garbage = await startOk('AMQPLAIN', Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    assert.deepEqual(garbage, {
      ...PLAIN_INVALID,
      replyText: 'SYNTAX_ERROR - AMQPLAIN response invalid: not a field table',
    });
    const missing = await startOk('AMQPLAIN', amqplain([['LOGIN', 'S', arg.longstr('app')]]));
    assert.deepEqual(missing, {
      ...PLAIN_INVALID,
      replyText: 'SYNTAX_ERROR - AMQPLAIN auth info is missing LOGIN or PASSWORD field',
    });
    const numbers = await startOk(
      'AMQPLAIN',
      amqplain([
        ['LOGIN', 'I', arg.long(1)],
        ['PASSWORD', 'I', arg.long(2)],
      ]),
    );
    assert.equal(numbers !== 'tune' && numbers.replyCode, ReplyCode.SYNTAX_ERROR);
    const good = amqplain([
      ['LOGIN', 'S', arg.longstr('app')],
      ['PASSWORD', 'S', arg.longstr('app-pw')],
    ]);
    assert.equal(await startOk('AMQPLAIN', good), 'tune');
    const wrong = amqplain([
      ['LOGIN', 'S', arg.longstr('app')],
      ['PASSWORD', 'S', arg.longstr('nope')],
    ]);
    assert.deepEqual(await startOk('AMQPLAIN', wrong), {
      replyCode: ReplyCode.ACCESS_REFUSED,
      replyText: LOGIN_REFUSED('AMQPLAIN'),
      classId: 0,
      methodId: 0,
    });
  });

  test('an unknown mechanism is 503 COMMAND_INVALID', async () => {
    assert.deepEqual(await startOk('SCRAM-SHA-256', plain('\u0000app\u0000app-pw')), {
      replyCode: ReplyCode.COMMAND_INVALID,
      replyText: "COMMAND_INVALID - unknown authentication mechanism 'SCRAM-SHA-256'",
      classId: 10,
      methodId: 11,
    });
  });
});

describe('over-long credentials', () => {
  const refused = {
    replyCode: ReplyCode.ACCESS_REFUSED,
    replyText: LOGIN_REFUSED('PLAIN'),
    classId: 0,
    methodId: 0,
  };

  test('a user name or password longer than can be stored is refused like any failed login', async () => {
    assert.deepEqual(await startOk('PLAIN', plain(`\u0000${'u'.repeat(3000)}\u0000pw`)), refused);
    assert.deepEqual(await startOk('PLAIN', plain(`\u0000app\u0000${'p'.repeat(2000)}`)), refused);
  });

  test('a start-ok larger than the pre-tune frame limit (4096 bytes) is a frame error, not a crash', async () => {
    const close = await startOk('PLAIN', plain(`\u0000${'u'.repeat(100_000)}\u0000pw`));
    assert.ok(close !== 'tune');
    assert.equal(close.replyCode, ReplyCode.FRAME_ERROR);
    // The broker carries on.
    const conn = await connect(b.url('app', 'app-pw'));
    await conn.close();
  });

  test('passwords that long cannot be set either', async () => {
    await assert.rejects(b.broker.users.putUser('long', { password: 'x'.repeat(1025) }), /at most 1024/);
  });
});

describe('who may log in where', () => {
  test('a wrong password is 403 ACCESS_REFUSED at login', async () => {
    await assert.rejects(amqp.connect(b.url('app', 'wrong')), /ACCESS.REFUSED/);
    assert.deepEqual(await startOk('PLAIN', plain('\u0000app\u0000wrong')), {
      replyCode: ReplyCode.ACCESS_REFUSED,
      replyText: LOGIN_REFUSED('PLAIN'),
      classId: 0,
      methodId: 0,
    });
  });

  test('a vhost the user has no permissions for is 530 NOT_ALLOWED at connection.open', async () => {
    const raw = await RawAmqpClient.connect(b.port);
    try {
      await raw.handshake({ user: 'app', pass: 'app-pw', vhost: 'closed-vhost', skipOpenOk: true });
      assert.deepEqual(await raw.readConnectionClose(), {
        replyCode: ReplyCode.NOT_ALLOWED,
        replyText: "NOT_ALLOWED - access to vhost 'closed-vhost' refused for user 'app'",
        classId: 10,
        methodId: 40,
      });
    } finally {
      raw.destroy();
    }
  });

  test('guest may not log in from a non-loopback address; other users may', async (t) => {
    if (remoteAddress === undefined) {
      t.skip('this machine has no non-loopback IPv4 address to connect from');
      return;
    }
    assert.deepEqual(await startOk('PLAIN', plain('\u0000guest\u0000guest'), remoteAddress), {
      replyCode: ReplyCode.ACCESS_REFUSED,
      replyText: LOGIN_REFUSED('PLAIN'),
      classId: 0,
      methodId: 0,
    });
    assert.equal(await startOk('PLAIN', plain('\u0000app\u0000app-pw'), remoteAddress), 'tune');
    assert.equal(await startOk('PLAIN', plain('\u0000guest\u0000guest'), '127.0.0.1'), 'tune');
  });
});
