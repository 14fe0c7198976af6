import assert from 'node:assert/strict';
import { isAbsolute, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { hashPassword } from '../../src/core/password-hash.js';
import {
  CONFIG_OPTIONS,
  ConfigError,
  DEFAULT_CONFIG,
  flagAttribute,
  formatDefault,
  loadConfig,
  type ReadTextFile,
  redactConfig,
} from '../../src/server/config.js';

function files(contents: Record<string, unknown>): ReadTextFile {
  return (path) => {
    if (!(path in contents)) throw new Error(`ENOENT: no such file '${path}'`);
    const value = contents[path];
    return typeof value === 'string' ? value : JSON.stringify(value);
  };
}

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected loadConfig to throw');
}

describe('loadConfig defaults', () => {
  it('gives every documented default when nothing is set', () => {
    const config = loadConfig({}, {});
    assert.equal(config.dataDir, resolve('./data'));
    assert.deepEqual(config.hosts, ['0.0.0.0', '::']);
    assert.equal(config.amqpPort, 5672);
    assert.equal(config.httpEnabled, true);
    assert.equal(config.httpPort, 15672);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.fsync, true);
    assert.deepEqual(config.limits, {
      frameMax: 131072,
      channelMax: 2047,
      maxMessageSize: 134217728,
      maxConnections: 10000,
      heartbeatSeconds: 60,
      maxHeaderTableDepth: 16,
      handshakeTimeoutMs: 10000,
      maxConsumersPerChannel: 0,
      segmentMaxBytes: 64 * 1024 * 1024,
      queueCacheBytes: 16 * 1024 * 1024,
      queueReadAheadBytes: 1024 * 1024,
      maxOpenFiles: 4096,
      memoryHighWatermarkPercent: 40,
      diskFreeLimitBytes: 50_000_000,
    });
    assert.deepEqual(config.vhosts, ['/']);
    // guest is not a config user: the broker stores it once on a new data directory (defaultUser).
    assert.deepEqual(config.users, []);
    assert.equal(config.defaultUser, undefined);
  });

  it('serves MQTT on 1883 (8883 with TLS, /mqtt over WebSocket) with bounded sessions by default', () => {
    const config = loadConfig({}, {});
    assert.equal(config.mqttEnabled, true);
    assert.equal(config.mqttPort, 1883);
    assert.equal(config.mqttsPort, 8883);
    assert.deepEqual(config.mqtt, {
      exchange: 'amq.topic',
      vhost: '/',
      maxSessionExpirySeconds: 86400,
      maxPacketSize: 16 * 1024 * 1024,
      maxTopicLength: 255,
      maxTopicLevels: 128,
      maxSubscriptions: 1000,
      maxInflight: 512,
      maxRetainedMessages: 100_000,
      maxRetainedBytes: 64 * 1024 * 1024,
      topicAliasMaximum: 64,
      webSocket: true,
    });
  });

  it('takes MQTT settings from flags, env and file, and names bad ones', () => {
    const read = files({ '/etc/e.json': { mqtt: { exchange: 'mqtt.topic', maxInflight: 64 } } });
    const config = loadConfig(
      { config: '/etc/e.json', noMqttWebSocket: undefined, mqttMaxPacketSize: '1MiB' },
      { EVENTTER_MQTT_ANONYMOUS_USER: 'device', EVENTTER_MQTT_ENABLED: 'false' },
      read,
    );
    assert.equal(config.mqttEnabled, false);
    assert.equal(config.mqtt.exchange, 'mqtt.topic');
    assert.equal(config.mqtt.maxInflight, 64);
    assert.equal(config.mqtt.maxPacketSize, 1024 * 1024);
    assert.equal(config.mqtt.anonymousUser, 'device');
    const err = configError(() => loadConfig({ mqttMaxTopicLength: '300' }, {}));
    assert.deepEqual(err.problems, [
      'mqtt.maxTopicLength (from flag --mqtt-max-topic-length): must be at most 255, got 300',
    ]);
    const typo = configError(() =>
      loadConfig({ config: '/x.json' }, {}, files({ '/x.json': { mqtt: { exchnge: 'x' } } })),
    );
    assert.deepEqual(typo.problems, [
      'config file /x.json: unknown key "mqtt.exchnge" (did you mean "mqtt.exchange"?)',
    ]);
  });

  it('resolves dataDir to an absolute path', () => {
    const config = loadConfig({ dataDir: 'some/dir' }, {});
    assert.ok(isAbsolute(config.dataDir));
    assert.equal(config.dataDir, resolve('some/dir'));
  });

  it('accepts port 0 (any free port) for both listeners', () => {
    const config = loadConfig({ amqpPort: '0', httpPort: '0' }, {});
    assert.equal(config.amqpPort, 0);
    assert.equal(config.httpPort, 0);
  });
});

describe('loadConfig precedence: flags > env > file > defaults', () => {
  const read = files({ '/etc/eventter.json': { amqpPort: 1001, limits: { channelMax: 11 } } });

  it('uses the file over defaults', () => {
    const config = loadConfig({ config: '/etc/eventter.json' }, {}, read);
    assert.equal(config.amqpPort, 1001);
    assert.equal(config.limits.channelMax, 11);
    assert.equal(config.limits.frameMax, 131072, 'unset nested options keep their defaults');
  });

  it('uses env over the file', () => {
    const env = { EVENTTER_CONFIG: '/etc/eventter.json', EVENTTER_AMQP_PORT: '2002' };
    const config = loadConfig({}, env, read);
    assert.equal(config.amqpPort, 2002);
    assert.equal(config.limits.channelMax, 11, 'the file still supplies what env does not set');
  });

  it('uses flags over env', () => {
    const env = {
      EVENTTER_CONFIG: '/etc/eventter.json',
      EVENTTER_AMQP_PORT: '2002',
      EVENTTER_CHANNEL_MAX: '22',
    };
    const config = loadConfig({ amqpPort: '3003' }, env, read);
    assert.equal(config.amqpPort, 3003);
    assert.equal(config.limits.channelMax, 22);
  });

  it('takes the config path from --config over EVENTTER_CONFIG', () => {
    const twoFiles = files({ '/a.json': { httpPort: 1 }, '/b.json': { httpPort: 2 } });
    assert.equal(loadConfig({ config: '/a.json' }, { EVENTTER_CONFIG: '/b.json' }, twoFiles).httpPort, 1);
    assert.equal(loadConfig({}, { EVENTTER_CONFIG: '/b.json' }, twoFiles).httpPort, 2);
  });

  it('treats empty env values as unset', () => {
    assert.equal(loadConfig({}, { EVENTTER_AMQP_PORT: '', EVENTTER_CONFIG: ' ' }).amqpPort, 5672);
  });

  it('lets --fsync override EVENTTER_FSYNC=false and --no-fsync override env true', () => {
    assert.equal(loadConfig({}, { EVENTTER_FSYNC: 'false' }).fsync, false);
    assert.equal(loadConfig({ fsync: true }, { EVENTTER_FSYNC: 'false' }).fsync, true);
    assert.equal(loadConfig({ fsync: false }, { EVENTTER_FSYNC: 'true' }).fsync, false);
    assert.equal(loadConfig({ http: false }, {}).httpEnabled, false);
    assert.equal(loadConfig({}, { EVENTTER_HTTP_ENABLED: '0' }).httpEnabled, false);
  });
});

describe('loadConfig value formats', () => {
  it('parses comma-separated host lists', () => {
    assert.deepEqual(loadConfig({ hosts: '127.0.0.1, ::1,localhost' }, {}).hosts, [
      '127.0.0.1',
      '::1',
      'localhost',
    ]);
    assert.deepEqual(loadConfig({}, { EVENTTER_HOSTS: '::' }).hosts, ['::']);
  });

  it('accepts byte sizes with binary units from flags, env and file', () => {
    const read = files({ '/c.json': { limits: { segmentMaxBytes: '2MiB', queueCacheBytes: 0 } } });
    const config = loadConfig(
      { frameMax: '512KiB', config: '/c.json' },
      { EVENTTER_MAX_MESSAGE_SIZE: '16m' },
      read,
    );
    assert.equal(config.limits.frameMax, 512 * 1024);
    assert.equal(config.limits.maxMessageSize, 16 * 1024 * 1024);
    assert.equal(config.limits.segmentMaxBytes, 2 * 1024 * 1024);
    assert.equal(config.limits.queueCacheBytes, 0);
  });
});

describe('loadConfig validation', () => {
  it('names the option, its source, the bound and the value', () => {
    const err = configError(() => loadConfig({ amqpPort: '70000' }, {}));
    assert.deepEqual(err.problems, ['amqpPort (from flag --amqp-port): must be at most 65535, got 70000']);
    assert.match(err.message, /^Invalid configuration:\n {2}- amqpPort/);
  });

  it('reports every problem at once, from every source', () => {
    const read = files({ '/c.json': { limits: { channelMax: 0 } } });
    const err = configError(() =>
      loadConfig(
        { frameMax: '100', logLevel: 'loud', config: '/c.json' },
        { EVENTTER_HTTP_PORT: 'eighty', EVENTTER_HEARTBEAT: '-1' },
        read,
      ),
    );
    const text = err.problems.join('\n');
    assert.match(text, /limits\.frameMax \(from flag --frame-max\): must be at least 4096, got 100/);
    assert.match(text, /logLevel \(from flag --log-level\): must be one of fatal, .*silent, got "loud"/);
    assert.match(text, /httpPort \(from env EVENTTER_HTTP_PORT\): must be an integer, got "eighty"/);
    assert.match(
      text,
      /limits\.heartbeatSeconds \(from env EVENTTER_HEARTBEAT\): must be at least 0, got -1/,
    );
    assert.match(text, /limits\.channelMax \(from config file \/c\.json\): must be at least 1, got 0/);
    assert.equal(err.problems.length, 5);
  });

  it('rejects message sizes above the 512 MiB ceiling', () => {
    const err = configError(() => loadConfig({ maxMessageSize: '1GiB' }, {}));
    assert.match(err.problems[0], /limits\.maxMessageSize .*must be at most 536870912/);
  });

  it('rejects malformed byte sizes and booleans', () => {
    const err = configError(() => loadConfig({ segmentMaxBytes: '12 parsecs' }, { EVENTTER_FSYNC: 'maybe' }));
    const text = err.problems.join('\n');
    assert.match(text, /segmentMaxBytes \(from flag --segment-max-bytes\): must be a byte count/);
    assert.match(text, /fsync \(from env EVENTTER_FSYNC\): must be true or false, got "maybe"/);
  });

  it('rejects bad, empty and repeated hosts', () => {
    assert.match(
      configError(() => loadConfig({ hosts: 'not a host' }, {})).message,
      /hosts\.0 .*IPv4\/IPv6 address/,
    );
    assert.match(configError(() => loadConfig({ hosts: ',' }, {})).message, /hosts .*at least one address/);
    assert.match(configError(() => loadConfig({ hosts: '::,::' }, {})).message, /hosts .*must not repeat/);
  });

  it('rejects unknown keys in the config file, naming the file and the key it most likely meant', () => {
    const read = files({
      '/etc/x.json': {
        limts: {},
        amqpport: 1,
        'data-dir': '/d',
        limits: { frameMaxx: 4096 },
        users: [{ name: 'u', pasword: 'p', password: 'p' }],
        colour: 'blue',
      },
    });
    const problems = configError(() => loadConfig({ config: '/etc/x.json' }, {}, read)).problems;
    assert.deepEqual(problems.toSorted(), [
      'config file /etc/x.json: unknown key "amqpport" (did you mean "amqpPort"?)',
      'config file /etc/x.json: unknown key "colour"',
      'config file /etc/x.json: unknown key "data-dir" (did you mean "dataDir"?)',
      'config file /etc/x.json: unknown key "limits.frameMaxx" (did you mean "limits.frameMax"?)',
      'config file /etc/x.json: unknown key "limts" (did you mean "limits"?)',
      'config file /etc/x.json: unknown key "users.0.pasword" (did you mean "users.0.password"?)',
    ]);
  });

  it('explains unreadable, non-JSON and non-object config files', () => {
    const read = files({ '/bad.json': '{ nope', '/list.json': [1, 2] });
    assert.match(
      configError(() => loadConfig({ config: '/missing.json' }, {}, read)).message,
      /cannot read it/,
    );
    assert.match(configError(() => loadConfig({ config: '/bad.json' }, {}, read)).message, /not valid JSON/);
    assert.match(
      configError(() => loadConfig({ config: '/list.json' }, {}, read)).message,
      /must contain a JSON object/,
    );
  });
});

describe('loadConfig users and vhosts', () => {
  it('reads the file users with per-user defaults', async () => {
    const hash = await hashPassword('s3cret');
    const read = files({
      '/c.json': {
        vhosts: ['/', 'prod'],
        users: [
          { name: 'app', passwordHash: hash, vhosts: ['prod'] },
          { name: 'ops', password: 'pw' },
        ],
      },
    });
    const config = loadConfig({ config: '/c.json' }, {}, read);
    assert.deepEqual(config.users, [
      { name: 'app', passwordHash: hash, vhosts: ['prod'], loopbackOnly: false, tags: [] },
      { name: 'ops', password: 'pw', vhosts: ['/'], loopbackOnly: false, tags: [] },
    ]);
  });

  it('requires exactly one of password and passwordHash, and a well-formed hash', () => {
    const read = files({
      '/c.json': {
        users: [
          { name: 'none' },
          { name: 'both', password: 'a', passwordHash: 'b' },
          { name: 'weird', passwordHash: 'sha256:abc' },
        ],
      },
    });
    const text = configError(() => loadConfig({ config: '/c.json' }, {}, read)).problems.join('\n');
    assert.match(text, /users\.0 .*exactly one of "password" or "passwordHash"/);
    assert.match(text, /users\.1 .*exactly one of/);
    assert.match(text, /users\.2\.passwordHash .*must look like scrypt:<salt base64>:<key base64>/);
  });

  it('rejects duplicate users and users of undeclared virtual hosts', () => {
    const read = files({
      '/c.json': {
        users: [
          { name: 'a', password: 'x', vhosts: ['/', 'missing'] },
          { name: 'a', password: 'y' },
        ],
      },
    });
    const text = configError(() => loadConfig({ config: '/c.json' }, {}, read)).problems.join('\n');
    assert.match(text, /users\.0\.vhosts\.1 .*virtual host "missing" is not in "vhosts"/);
    assert.match(text, /users\.1\.name .*duplicate user "a"/);
  });
});

describe('loadConfig TLS', () => {
  it('has amqps on 5671 and TLS off by default, with TLS 1.2 as the minimum', () => {
    const config = loadConfig({}, {});
    assert.equal(config.amqpsPort, 5671);
    assert.deepEqual(
      Object.fromEntries(Object.entries(config.tls).filter(([, value]) => value !== undefined)),
      { minVersion: 'TLSv1.2', verifyPeer: false, failIfNoPeerCert: false, http: false },
    );
  });

  it('takes every TLS setting from flags, env and file, resolving relative file paths', () => {
    const read = files({ '/c.json': { tls: { caFile: 'ca.pem', minVersion: 'TLSv1.3' } } });
    const config = loadConfig(
      { config: '/c.json', tlsCertFile: 'certs/server.pem', tlsVerifyPeer: true, amqpsPort: '0' },
      {
        EVENTTER_TLS_KEY_FILE: '/etc/eventter/server.key',
        EVENTTER_TLS_KEY_PASSPHRASE: 'pass phrase',
        EVENTTER_TLS_FAIL_IF_NO_PEER_CERT: 'yes',
        EVENTTER_HTTP_TLS: 'true',
      },
      read,
    );
    assert.equal(config.amqpsPort, 0);
    assert.deepEqual(config.tls, {
      certFile: resolve('certs/server.pem'),
      keyFile: '/etc/eventter/server.key',
      keyPassphrase: 'pass phrase',
      caFile: resolve('ca.pem'),
      minVersion: 'TLSv1.3',
      verifyPeer: true,
      failIfNoPeerCert: true,
      http: true,
    });
  });

  it('refuses a certificate without its key and a key without its certificate', () => {
    assert.deepEqual(configError(() => loadConfig({ tlsCertFile: '/c.pem' }, {})).problems, [
      'tls.keyFile: must be set with tls.certFile',
    ]);
    assert.deepEqual(configError(() => loadConfig({}, { EVENTTER_TLS_KEY_FILE: '/k.pem' })).problems, [
      'tls.certFile: must be set with tls.keyFile',
    ]);
  });

  it('refuses settings that need a certificate when there is none, naming where they came from', () => {
    const problems = configError(() =>
      loadConfig({ httpTls: true, tlsCaFile: '/ca.pem' }, { EVENTTER_TLS_KEY_PASSPHRASE: 'x' }),
    ).problems;
    assert.deepEqual(problems.toSorted(), [
      'tls.caFile (from flag --tls-ca-file): needs tls.certFile and tls.keyFile (the server certificate)',
      'tls.http (from flag --http-tls): needs tls.certFile and tls.keyFile (the server certificate)',
      'tls.keyPassphrase (from env EVENTTER_TLS_KEY_PASSPHRASE): needs tls.certFile and tls.keyFile (the server certificate)',
    ]);
  });

  it('refuses verify-peer without a CA and fail-if-no-peer-cert without verify-peer', () => {
    const certificate = { tlsCertFile: '/c.pem', tlsKeyFile: '/k.pem' };
    assert.deepEqual(configError(() => loadConfig({ ...certificate, tlsVerifyPeer: true }, {})).problems, [
      'tls.verifyPeer (from flag --tls-verify-peer): needs tls.caFile (the CA client certificates are verified against)',
    ]);
    assert.deepEqual(
      configError(() => loadConfig({ ...certificate, tlsFailIfNoPeerCert: true, tlsCaFile: '/ca.pem' }, {}))
        .problems,
      [
        'tls.failIfNoPeerCert (from flag --tls-fail-if-no-peer-cert): needs tls.verifyPeer (client certificates are only asked for then)',
      ],
    );
  });

  it('refuses an unknown TLS version, bad ports and misspelt TLS keys', () => {
    const read = files({ '/c.json': { tls: { certfile: '/c.pem' } } });
    const problems = configError(() =>
      loadConfig({ config: '/c.json', tlsMinVersion: 'TLSv1.1', amqpsPort: '65536' }, {}, read),
    ).problems;
    assert.deepEqual(problems.toSorted(), [
      'amqpsPort (from flag --amqps-port): must be at most 65535, got 65536',
      'config file /c.json: unknown key "tls.certfile" (did you mean "tls.certFile"?)',
      'tls.minVersion (from flag --tls-min-version): must be one of TLSv1.2, TLSv1.3, got "TLSv1.1"',
    ]);
  });

  it('keeps the key passphrase out of the start-up log', () => {
    const config = loadConfig(
      { tlsCertFile: '/c.pem', tlsKeyFile: '/k.pem', tlsKeyPassphrase: 'secret' },
      {},
    );
    const logged = JSON.stringify(redactConfig(config));
    assert.doesNotMatch(logged, /secret/);
    assert.match(logged, /"keyPassphrase":"\[redacted\]"/);
  });
});

/** The only options without a default: TLS is off until a certificate is configured. */
/** Options with no value unless set: the TLS files, a definitions file to import at start, and the MQTT
 * anonymous user (clients without a user name are refused until one is named). */
const UNSET_BY_DEFAULT = [
  'tls.certFile',
  'tls.keyFile',
  'tls.keyPassphrase',
  'tls.caFile',
  'definitions',
  'mqtt.anonymousUser',
];

describe('CONFIG_OPTIONS', () => {
  it('maps every option to a distinct flag, env var and an existing default', () => {
    const flags = new Set(CONFIG_OPTIONS.map((opt) => opt.flag));
    const envs = new Set(CONFIG_OPTIONS.map((opt) => opt.env));
    const attributes = new Set(CONFIG_OPTIONS.map((opt) => flagAttribute(opt.flag)));
    assert.equal(flags.size, CONFIG_OPTIONS.length);
    assert.equal(envs.size, CONFIG_OPTIONS.length);
    assert.equal(attributes.size, CONFIG_OPTIONS.length);
    for (const opt of CONFIG_OPTIONS) {
      assert.match(opt.env, /^EVENTTER_[A-Z0-9_]+$/);
      const unsetByDefault = UNSET_BY_DEFAULT.includes(opt.path);
      assert.equal(
        formatDefault(opt.path) === 'none',
        unsetByDefault,
        `${opt.path}: ${formatDefault(opt.path)}`,
      );
    }
  });

  it('covers every scalar setting of BrokerConfig', () => {
    const paths = new Set(CONFIG_OPTIONS.map((opt) => opt.path));
    const scalarPaths = [
      ...Object.keys(DEFAULT_CONFIG).filter(
        (key) => !['limits', 'users', 'vhosts', 'tls', 'mqtt'].includes(key),
      ),
      ...Object.keys(DEFAULT_CONFIG.limits).map((key) => `limits.${key}`),
      ...Object.keys(DEFAULT_CONFIG.tls).map((key) => `tls.${key}`),
      ...Object.keys(DEFAULT_CONFIG.mqtt).map((key) => `mqtt.${key}`),
      ...UNSET_BY_DEFAULT,
    ];
    for (const path of scalarPaths) assert.ok(paths.has(path), `no flag for ${path}`);
  });

  it('turns flags into commander attribute names', () => {
    assert.equal(flagAttribute('--amqp-port <port>'), 'amqpPort');
    assert.equal(flagAttribute('--max-header-table-depth <depth>'), 'maxHeaderTableDepth');
    assert.equal(flagAttribute('--fsync'), 'fsync');
  });
});
