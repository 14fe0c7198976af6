import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { z } from 'zod';
import { passwordHashProblem } from '../core/password-hash.js';
import { closestKey } from './closest-key.js';

/**
 * Broker configuration: one zod schema (defaults and bounds), one table of command-line flags and
 * environment variables (CONFIG_OPTIONS), and loadConfig(), which merges the sources in precedence order
 *   command-line flags > EVENTTER_* environment variables > JSON config file > defaults.
 * docs/configuration.md documents every entry; keep it in step with this file.
 */

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

function integer(min: number, max: number) {
  return z
    .number({ error: (issue) => `must be a number, got ${describeValue(issue.input)}` })
    .int('must be an integer')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);
}

const portSchema = integer(0, 65535);

const hostSchema = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(253, 'must be at most 253 characters')
  .refine(
    (host) =>
      isIP(host) !== 0 || /^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/.test(host),
    'must be an IPv4/IPv6 address or a host name',
  );

// AMQP short strings cap virtual host names at 255 bytes; we use characters as a simple, stricter bound.
const vhostSchema = z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(255);

const limitsSchema = z.strictObject({
  /** Largest AMQP frame offered in connection.tune; 4096 is the protocol's frame-min-size. */
  frameMax: integer(4096, 16 * MIB).default(131072),
  /** Channels per connection offered in connection.tune (RabbitMQ's default). */
  channelMax: integer(1, 65535).default(2047),
  /** Largest message body; RabbitMQ 3.8-3.13 default (4.x lowered it to 16 MiB; 512 MiB is its ceiling). */
  maxMessageSize: integer(1, 512 * MIB).default(128 * MIB),
  /** Concurrent client connections across all listeners. */
  maxConnections: integer(1, 1_000_000).default(10000),
  /** Heartbeat interval offered in connection.tune, in seconds; 0 disables heartbeats. */
  heartbeatSeconds: integer(0, 65535).default(60),
  /** How deeply field tables may nest inside message headers and method arguments. */
  maxHeaderTableDepth: integer(1, 128).default(16),
  /** Consumers one channel may hold (RabbitMQ's consumer_max_per_channel); 0 = no limit. */
  maxConsumersPerChannel: integer(0, 1_000_000).default(0),
  /** Time a client gets from TCP connect to connection.open, in milliseconds. */
  handshakeTimeoutMs: integer(100, 300_000).default(10_000),
  /** Size at which a queue's segment file is rolled over to a new one. */
  segmentMaxBytes: integer(MIB, GIB).default(64 * MIB),
  /** Bytes of message bodies each queue keeps in memory; the rest of its backlog is read back from disk. */
  queueCacheBytes: integer(0, GIB).default(16 * MIB),
  /** How much of a queue's on-disk backlog one read brings into memory. */
  queueReadAheadBytes: integer(4 * KIB, 64 * MIB).default(MIB),
  /** Queue files (segments, settle logs) kept open at once; the least recently used are closed and reopened. */
  maxOpenFiles: integer(16, 1_000_000).default(4096),
  /** Resident memory, as a percentage of the machine's, above which publishers are blocked (RabbitMQ: 40). */
  memoryHighWatermarkPercent: integer(1, 95).default(40),
  /** Free disk space under the data directory below which publishers are blocked (RabbitMQ: 50 MB). */
  diskFreeLimitBytes: integer(0, 1024 * GIB).default(50_000_000),
});

const userSchema = z
  .strictObject({
    name: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(255),
    password: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(1024).optional(),
    passwordHash: z
      .string({ error: 'must be a string' })
      .superRefine((text, ctx) => {
        const problem = passwordHashProblem(text);
        if (problem)
          ctx.addIssue({ code: 'custom', message: `${problem} (make one with: eventter hash-password)` });
      })
      .optional(),
    vhosts: z.array(vhostSchema).min(1, 'must list at least one virtual host').max(1024).default(['/']),
    /** Only accept this user from loopback addresses (like RabbitMQ's guest). */
    loopbackOnly: z.boolean({ error: 'must be true or false' }).default(false),
    /** RabbitMQ's user tags: administrator, management, monitoring, policymaker, ... */
    tags: z
      .array(z.string({ error: 'must be a string' }).min(1).max(64))
      .max(32)
      .default([]),
  })
  .refine((user) => (user.password === undefined) !== (user.passwordHash === undefined), {
    message: 'set exactly one of "password" or "passwordHash"',
  });

export type UserConfig = z.output<typeof userSchema>;

export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

const filePathSchema = z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(4096);
const booleanSchema = z.boolean({ error: 'must be true or false' });

/** TLS for AMQP (amqps) and optionally HTTP. Files are PEM; relative paths resolve like dataDir. */
const tlsSchema = z.strictObject({
  /** Server certificate, followed by any intermediates. With keyFile it turns the amqps listener on. */
  certFile: filePathSchema.optional(),
  keyFile: filePathSchema.optional(),
  /** Passphrase of an encrypted keyFile. */
  keyPassphrase: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(1024).optional(),
  /** CA certificates client certificates are verified against (verifyPeer). */
  caFile: filePathSchema.optional(),
  minVersion: z.enum(TLS_VERSIONS, { error: `must be one of ${TLS_VERSIONS.join(', ')}` }).default('TLSv1.2'),
  /** Ask clients for a certificate and verify it against caFile; a verified one allows SASL EXTERNAL. */
  verifyPeer: booleanSchema.default(false),
  /** With verifyPeer: refuse clients that send no certificate. */
  failIfNoPeerCert: booleanSchema.default(false),
  /** Serve HTTP over TLS with the same certificate. */
  http: booleanSchema.default(false),
});

export type TlsConfig = z.output<typeof tlsSchema>;

/** MQTT 5 session expiry meaning "never". */
const SESSION_NEVER_EXPIRES = 0xffffffff;

/** MQTT: where its topics route, who may log in without a user name, and the bounds of its sessions. */
const mqttSchema = z.strictObject({
  /** The topic exchange MQTT publishes go to and subscriptions bind to (RabbitMQ's mqtt.exchange). */
  exchange: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(255).default('amq.topic'),
  /** The vhost of clients whose user name is not of the form `vhost:user` (RabbitMQ's mqtt.vhost). */
  vhost: vhostSchema.default('/'),
  /** The user a CONNECT without user name logs in as; unset = such clients are refused. */
  anonymousUser: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(255).optional(),
  /** Longest a session outlives its connection (MQTT 3.1.1 clean=0 sessions get exactly this). */
  maxSessionExpirySeconds: integer(0, SESSION_NEVER_EXPIRES).default(86400),
  /** Largest packet accepted from a connected client (64 KiB before CONNECT). */
  maxPacketSize: integer(64 * KIB, 268_435_455).default(16 * MIB),
  /** Longest topic name or filter, in UTF-8 bytes (AMQP routing keys hold at most 255). */
  maxTopicLength: integer(1, 255).default(255),
  maxTopicLevels: integer(1, 255).default(128),
  /** Topic filters one session may subscribe to. */
  maxSubscriptions: integer(1, 100_000).default(1000),
  /** QoS 1/2 messages in flight per connection and direction (MQTT 5: the receive maximum offered). */
  maxInflight: integer(1, 65535).default(512),
  /** Retained messages across all vhosts, and their payload bytes. */
  maxRetainedMessages: integer(0, 10_000_000).default(100_000),
  maxRetainedBytes: integer(0, 16 * GIB).default(64 * MIB),
  /** Topic aliases an MQTT 5 client may set per connection. */
  topicAliasMaximum: integer(0, 65535).default(64),
  /** MQTT over WebSocket on the HTTP listener, path /mqtt (subprotocol mqtt). */
  webSocket: z.boolean({ error: 'must be true or false' }).default(true),
});

export type MqttConfig = z.output<typeof mqttSchema>;

export const brokerConfigSchema = z
  .strictObject({
    /** Directory holding all durable state. Relative paths resolve against the working directory. */
    dataDir: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(4096).default('./data'),
    /** Addresses to listen on (AMQP and HTTP). Both wildcards by default: IPv4 and IPv6 everywhere. */
    hosts: z
      .array(hostSchema)
      .min(1, 'must list at least one address')
      .max(16, 'must list at most 16 addresses')
      .refine((hosts) => new Set(hosts).size === hosts.length, 'must not repeat an address')
      .default(['0.0.0.0', '::']),
    /** AMQP 0-9-1 port; 0 picks a free port (logged at start). */
    amqpPort: portSchema.default(5672),
    /** AMQP 0-9-1 over TLS port, used when tls.certFile and tls.keyFile are set; 0 picks a free port. */
    amqpsPort: portSchema.default(5671),
    /** Whether to serve MQTT (and MQTT over TLS when a certificate is configured). */
    mqttEnabled: z.boolean({ error: 'must be true or false' }).default(true),
    /** MQTT port; 0 picks a free port (logged at start). */
    mqttPort: portSchema.default(1883),
    /** MQTT over TLS port, used when tls.certFile and tls.keyFile are set; 0 picks a free port. */
    mqttsPort: portSchema.default(8883),
    mqtt: mqttSchema.prefault({}),
    /** Whether to serve HTTP: GET /health, the management API and the queue API (/v2, docs/http-queues.md). */
    httpEnabled: z.boolean({ error: 'must be true or false' }).default(true),
    /** HTTP port; 0 picks a free port (logged at start). */
    httpPort: portSchema.default(15672),
    logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
    /** fdatasync before confirming persistent messages. Turning it off risks data loss on power failure. */
    fsync: z.boolean({ error: 'must be true or false' }).default(true),
    limits: limitsSchema.prefault({}),
    vhosts: z
      .array(vhostSchema)
      .min(1, 'must list at least one virtual host')
      .max(1024)
      .refine((vhosts) => new Set(vhosts).size === vhosts.length, 'must not repeat a virtual host')
      .default(['/']),
    /**
     * Users defined here exist at every start, read-only at run time, with full permissions on their vhosts;
     * users created at run time (eventter users, the HTTP API, definitions) live in the data directory.
     */
    users: z.array(userSchema).max(10_000).default([]),
    /**
     * A definitions file (RabbitMQ's format) imported at every start, before clients are let in, like
     * RabbitMQ's load_definitions; an import of an unchanged file changes nothing. Empty: none.
     */
    definitions: z.string({ error: 'must be a string' }).max(4096).default(''),
    /**
     * guest/guest (administrator, loopback only) on a new data directory. Unset: on unless "users" is set.
     * false also removes a stored guest at start.
     */
    defaultUser: z.boolean({ error: 'must be true or false' }).optional(),
    tls: tlsSchema.prefault({}),
  })
  .superRefine((config, ctx) => {
    for (const problem of tlsProblems(config.tls)) {
      ctx.addIssue({ code: 'custom', path: ['tls', problem.key], message: problem.message });
    }
    const seen = new Set<string>();
    config.users.forEach((user, index) => {
      if (seen.has(user.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['users', index, 'name'],
          message: `duplicate user "${user.name}"`,
        });
      }
      seen.add(user.name);
      user.vhosts.forEach((vhost, vhostIndex) => {
        if (!config.vhosts.includes(vhost)) {
          ctx.addIssue({
            code: 'custom',
            path: ['users', index, 'vhosts', vhostIndex],
            message: `virtual host "${vhost}" is not in "vhosts"`,
          });
        }
      });
    });
  });

/**
 * TLS settings that cannot work together. Settings that only mean something with a certificate are refused
 * without one rather than ignored: --http-tls without a certificate would otherwise serve plain HTTP.
 */
function tlsProblems(tls: TlsConfig): Array<{ key: keyof TlsConfig; message: string }> {
  const problems: Array<{ key: keyof TlsConfig; message: string }> = [];
  if (tls.certFile !== undefined && tls.keyFile === undefined)
    problems.push({ key: 'keyFile', message: 'must be set with tls.certFile' });
  if (tls.keyFile !== undefined && tls.certFile === undefined)
    problems.push({ key: 'certFile', message: 'must be set with tls.keyFile' });
  if (tls.certFile === undefined && tls.keyFile === undefined) {
    const needCertificate: Array<keyof TlsConfig> = [];
    if (tls.keyPassphrase !== undefined) needCertificate.push('keyPassphrase');
    if (tls.caFile !== undefined) needCertificate.push('caFile');
    if (tls.verifyPeer) needCertificate.push('verifyPeer');
    if (tls.http) needCertificate.push('http');
    for (const key of needCertificate)
      problems.push({ key, message: 'needs tls.certFile and tls.keyFile (the server certificate)' });
  }
  if (tls.verifyPeer && tls.caFile === undefined)
    problems.push({
      key: 'verifyPeer',
      message: 'needs tls.caFile (the CA client certificates are verified against)',
    });
  if (tls.failIfNoPeerCert && !tls.verifyPeer)
    problems.push({
      key: 'failIfNoPeerCert',
      message: 'needs tls.verifyPeer (client certificates are only asked for then)',
    });
  return problems;
}

/** The validated configuration every part of the server receives. */
export type BrokerConfig = z.output<typeof brokerConfigSchema>;
export type LimitsConfig = BrokerConfig['limits'];

export const DEFAULT_CONFIG: Readonly<BrokerConfig> = brokerConfigSchema.parse({});

// ---------------------------------------------------------------------------------------------------------
// Flags and environment variables

type ValueKind = 'string' | 'integer' | 'bytes' | 'boolean' | 'list' | 'logLevel';

export interface ConfigOption {
  /** Dotted path in BrokerConfig, e.g. 'limits.frameMax'. */
  path: string;
  /** Commander flag spec, e.g. '--frame-max <bytes>'. Booleans get '--x' and '--no-x'. */
  flag: string;
  env: string;
  kind: ValueKind;
  description: string;
  /** Help for the '--no-x' form of a boolean option. */
  offDescription?: string;
}

function option(
  path: string,
  flagName: string,
  placeholder: string,
  kind: ValueKind,
  description: string,
  extra: { envSuffix?: string; offDescription?: string } = {},
) {
  const flag = kind === 'boolean' ? `--${flagName}` : `--${flagName} <${placeholder}>`;
  const env = `EVENTTER_${(extra.envSuffix ?? flagName).toUpperCase().replaceAll('-', '_')}`;
  return { path, flag, env, kind, description, offDescription: extra.offDescription } satisfies ConfigOption;
}

/** Every option settable by flag or environment variable (users and vhosts come from the config file). */
export const CONFIG_OPTIONS: readonly ConfigOption[] = [
  option('dataDir', 'data-dir', 'path', 'string', 'directory for all durable state'),
  option('hosts', 'hosts', 'addresses', 'list', 'comma-separated addresses to listen on'),
  option(
    'definitions',
    'definitions',
    'path',
    'string',
    'definitions file (RabbitMQ format) imported at start',
  ),
  option('amqpPort', 'amqp-port', 'port', 'integer', 'AMQP listener port, 0 = any free port'),
  option('httpEnabled', 'http', '', 'boolean', 'serve HTTP (health, management API, queue API /v2)', {
    envSuffix: 'http-enabled',
    offDescription: 'do not serve HTTP',
  }),
  option('httpPort', 'http-port', 'port', 'integer', 'HTTP listener port, 0 = any free port'),
  option(
    'amqpsPort',
    'amqps-port',
    'port',
    'integer',
    'AMQP over TLS listener port (with --tls-cert-file and --tls-key-file), 0 = any free port',
  ),
  option('mqttEnabled', 'mqtt', '', 'boolean', 'serve MQTT 3.1.1 and 5.0', {
    envSuffix: 'mqtt-enabled',
    offDescription: 'do not serve MQTT',
  }),
  option('mqttPort', 'mqtt-port', 'port', 'integer', 'MQTT listener port, 0 = any free port'),
  option(
    'mqttsPort',
    'mqtts-port',
    'port',
    'integer',
    'MQTT over TLS listener port (with --tls-cert-file and --tls-key-file), 0 = any free port',
  ),
  option('mqtt.exchange', 'mqtt-exchange', 'name', 'string', 'topic exchange MQTT topics route through'),
  option('mqtt.vhost', 'mqtt-vhost', 'vhost', 'string', 'vhost of MQTT clients not logging in as vhost:user'),
  option(
    'mqtt.anonymousUser',
    'mqtt-anonymous-user',
    'user',
    'string',
    'user MQTT clients without a user name log in as (default: refused)',
  ),
  option(
    'mqtt.maxSessionExpirySeconds',
    'mqtt-max-session-expiry',
    'seconds',
    'integer',
    'longest an MQTT session outlives its connection',
  ),
  option('mqtt.maxPacketSize', 'mqtt-max-packet-size', 'bytes', 'bytes', 'largest MQTT packet'),
  option('mqtt.maxTopicLength', 'mqtt-max-topic-length', 'bytes', 'integer', 'longest MQTT topic'),
  option('mqtt.maxTopicLevels', 'mqtt-max-topic-levels', 'count', 'integer', 'most levels in an MQTT topic'),
  option(
    'mqtt.maxSubscriptions',
    'mqtt-max-subscriptions',
    'count',
    'integer',
    'topic filters per MQTT session',
  ),
  option(
    'mqtt.maxInflight',
    'mqtt-max-inflight',
    'count',
    'integer',
    'QoS 1/2 messages in flight per MQTT connection and direction',
  ),
  option(
    'mqtt.maxRetainedMessages',
    'mqtt-max-retained',
    'count',
    'integer',
    'retained MQTT messages across the broker',
  ),
  option(
    'mqtt.maxRetainedBytes',
    'mqtt-max-retained-bytes',
    'bytes',
    'bytes',
    'payload bytes of all retained MQTT messages',
  ),
  option(
    'mqtt.topicAliasMaximum',
    'mqtt-topic-alias-maximum',
    'count',
    'integer',
    'topic aliases an MQTT 5 client may set',
  ),
  option(
    'mqtt.webSocket',
    'mqtt-web-socket',
    '',
    'boolean',
    'serve MQTT over WebSocket on the HTTP port at /mqtt',
    {
      offDescription: 'no MQTT over WebSocket',
    },
  ),
  option('tls.certFile', 'tls-cert-file', 'path', 'string', 'server certificate chain (PEM); turns amqps on'),
  option('tls.keyFile', 'tls-key-file', 'path', 'string', 'private key of the server certificate (PEM)'),
  option(
    'tls.keyPassphrase',
    'tls-key-passphrase',
    'passphrase',
    'string',
    'passphrase of an encrypted key (prefer the env var: arguments show in the process list)',
  ),
  option('tls.caFile', 'tls-ca-file', 'path', 'string', 'CA certificates (PEM) for client certificates'),
  option(
    'tls.minVersion',
    'tls-min-version',
    'version',
    'string',
    `oldest TLS accepted: ${TLS_VERSIONS.join('|')}`,
  ),
  option(
    'tls.verifyPeer',
    'tls-verify-peer',
    '',
    'boolean',
    'ask for client certificates, verify them with the CA; offers SASL EXTERNAL',
    {
      offDescription: 'do not ask for client certificates',
    },
  ),
  option(
    'tls.failIfNoPeerCert',
    'tls-fail-if-no-peer-cert',
    '',
    'boolean',
    'with --tls-verify-peer: refuse clients without a certificate',
    {
      offDescription: 'accept TLS clients that send no certificate',
    },
  ),
  option('tls.http', 'http-tls', '', 'boolean', 'serve HTTP over TLS (HTTPS) with the same certificate', {
    offDescription: 'serve plain HTTP',
  }),
  option('logLevel', 'log-level', 'level', 'logLevel', `log level: ${LOG_LEVELS.join('|')}`),
  option('fsync', 'fsync', '', 'boolean', 'fdatasync before confirming persistent messages', {
    offDescription: 'skip fdatasync: faster, but a power cut loses confirmed messages (development only)',
  }),
  option('limits.frameMax', 'frame-max', 'bytes', 'bytes', 'largest AMQP frame'),
  option('limits.channelMax', 'channel-max', 'count', 'integer', 'channels per connection'),
  option('limits.maxMessageSize', 'max-message-size', 'bytes', 'bytes', 'largest message body'),
  option('limits.maxConnections', 'max-connections', 'count', 'integer', 'concurrent client connections'),
  option('limits.heartbeatSeconds', 'heartbeat', 'seconds', 'integer', 'heartbeat interval, 0 disables'),
  option(
    'limits.maxHeaderTableDepth',
    'max-header-table-depth',
    'depth',
    'integer',
    'nesting of field tables',
  ),
  option('limits.handshakeTimeoutMs', 'handshake-timeout', 'ms', 'integer', 'connect-to-open time limit'),
  option(
    'limits.maxConsumersPerChannel',
    'max-consumers-per-channel',
    'count',
    'integer',
    'consumers per channel, 0 = no limit',
  ),
  option('limits.maxOpenFiles', 'max-open-files', 'count', 'integer', 'queue files kept open at once'),
  option(
    'limits.memoryHighWatermarkPercent',
    'memory-high-watermark',
    'percent',
    'integer',
    'block publishers above this % of RAM',
  ),
  option(
    'limits.diskFreeLimitBytes',
    'disk-free-limit',
    'bytes',
    'bytes',
    'block publishers below this free disk',
  ),
  option('limits.segmentMaxBytes', 'segment-max-bytes', 'bytes', 'bytes', 'queue segment file size'),
  option(
    'limits.queueCacheBytes',
    'queue-cache-bytes',
    'bytes',
    'bytes',
    'message bodies cached in memory per queue',
  ),
  option(
    'limits.queueReadAheadBytes',
    'queue-read-ahead-bytes',
    'bytes',
    'bytes',
    'disk read-ahead per queue',
  ),
];

export const CONFIG_FILE_FLAG = '--config <path>';
export const CONFIG_FILE_ENV = 'EVENTTER_CONFIG';

/** The commander attribute name for a flag: '--amqp-port <port>' -> 'amqpPort'. */
export function flagAttribute(flag: string): string {
  const name = flag.split(' ')[0].replace(/^--/, '');
  return name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/** Default value of an option, formatted for help text and docs ('none' for options unset by default). */
export function formatDefault(path: string): string {
  const value = getPath(DEFAULT_CONFIG, path);
  if (value === undefined || value === '') return 'none';
  return Array.isArray(value) ? value.join(',') : String(value);
}

// ---------------------------------------------------------------------------------------------------------
// Loading

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

/** Values as commander hands them over: strings for valued flags, booleans for switches. */
export type CliOptionValues = Readonly<Record<string, string | boolean | undefined>>;

export type Env = Readonly<Record<string, string | undefined>>;

export type ReadTextFile = (path: string) => string;

const MAX_CONFIG_FILE_BYTES = 16 * MIB;

function readConfigFileText(path: string): string {
  return readFileSync(path, 'utf8');
}

/**
 * Builds the validated configuration. Throws ConfigError listing every problem, each naming the option
 * and where its value came from.
 */
export function loadConfig(
  cliOptions: CliOptionValues = {},
  env: Env = process.env,
  readTextFile: ReadTextFile = readConfigFileText,
): BrokerConfig {
  const problems: string[] = [];
  const origins = new Map<string, string>();
  const merged: Record<string, unknown> = {};

  const configPath = stringOrUndefined(cliOptions.config) ?? nonEmpty(env[CONFIG_FILE_ENV]);
  if (configPath !== undefined) {
    const fileValues = readConfigFile(configPath, readTextFile, problems);
    if (fileValues !== undefined) {
      for (const [key, value] of Object.entries(fileValues)) {
        merged[key] = value;
        origins.set(key, `config file ${configPath}`);
      }
      // Byte sizes may be written as "64MiB" in the file too.
      for (const opt of CONFIG_OPTIONS) {
        const value = getPath(merged, opt.path);
        if (opt.kind === 'bytes' && typeof value === 'string') {
          const converted = convert(opt, value);
          if ('problem' in converted)
            problems.push(`${opt.path} (from config file ${configPath}): ${converted.problem}`);
          else setPath(merged, opt.path, converted.value);
        }
      }
    }
  }

  for (const opt of CONFIG_OPTIONS) {
    const raw = nonEmpty(env[opt.env]);
    if (raw === undefined) continue;
    applyRaw(opt, raw, `env ${opt.env}`, merged, origins, problems);
  }

  for (const opt of CONFIG_OPTIONS) {
    const raw = cliOptions[flagAttribute(opt.flag)];
    if (raw === undefined) continue;
    const flagName = opt.flag.split(' ')[0];
    const label =
      opt.kind === 'boolean' && raw === false ? `flag --no-${flagName.slice(2)}` : `flag ${flagName}`;
    applyRaw(opt, raw, label, merged, origins, problems);
  }

  // Values that failed conversion were left out, so the schema still checks everything else in one pass.
  const result = brokerConfigSchema.safeParse(merged, { reportInput: true });
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        // Only the file can hold keys the schema does not know: flags and env map onto known paths.
        const file = configPath === undefined ? 'configuration' : `config file ${configPath}`;
        for (const key of issue.keys) problems.push(`${file}: ${unknownKeyProblem(issue.path, key)}`);
        continue;
      }
      const path = issue.path.map(String);
      const origin = originOf(origins, path);
      const input = (issue as { input?: unknown }).input;
      const got = issue.message.includes(', got ') || !isScalar(input) ? '' : `, got ${describeValue(input)}`;
      problems.push(
        `${path.join('.') || '(root)'}${origin ? ` (from ${origin})` : ''}: ${issue.message}${got}`,
      );
    }
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  const { tls, dataDir, definitions } = result.data;
  const resolveFile = (path: string | undefined) => (path === undefined ? undefined : resolvePath(path));
  return {
    ...result.data,
    dataDir: resolvePath(dataDir),
    definitions: definitions === '' ? '' : resolvePath(definitions),
    tls: {
      ...tls,
      certFile: resolveFile(tls.certFile),
      keyFile: resolveFile(tls.keyFile),
      caFile: resolveFile(tls.caFile),
    },
  };
}

// The keys each object in the file may have, by path with array indexes written as '*'.
const KNOWN_KEYS = new Map<string, readonly string[]>([
  ['', Object.keys(brokerConfigSchema.shape)],
  ['limits', Object.keys(limitsSchema.shape)],
  ['tls', Object.keys(tlsSchema.shape)],
  ['mqtt', Object.keys(mqttSchema.shape)],
  ['users.*', Object.keys(userSchema.shape)],
]);

function unknownKeyProblem(parentPath: readonly PropertyKey[], key: string): string {
  const parent = parentPath.map(String);
  const known = KNOWN_KEYS.get(parent.map((part) => (/^\d+$/.test(part) ? '*' : part)).join('.')) ?? [];
  const suggestion = closestKey(key, known);
  const full = (name: string) => [...parent, name].join('.');
  return `unknown key "${full(key)}"${suggestion === undefined ? '' : ` (did you mean "${full(suggestion)}"?)`}`;
}

function readConfigFile(
  path: string,
  readTextFile: ReadTextFile,
  problems: string[],
): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readTextFile(path);
  } catch (err) {
    problems.push(`config file ${path}: cannot read it (${(err as Error).message})`);
    return undefined;
  }
  if (text.length > MAX_CONFIG_FILE_BYTES) {
    problems.push(`config file ${path}: larger than ${MAX_CONFIG_FILE_BYTES} bytes`);
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    problems.push(`config file ${path}: not valid JSON (${(err as Error).message})`);
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    problems.push(`config file ${path}: must contain a JSON object`);
    return undefined;
  }
  return parsed as Record<string, unknown>;
}

function applyRaw(
  opt: ConfigOption,
  raw: string | boolean,
  origin: string,
  merged: Record<string, unknown>,
  origins: Map<string, string>,
  problems: string[],
): void {
  const converted = convert(opt, raw);
  if ('problem' in converted) {
    problems.push(`${opt.path} (from ${origin}): ${converted.problem}`);
    return;
  }
  setPath(merged, opt.path, converted.value);
  origins.set(opt.path, origin);
}

type Converted = { value: unknown } | { problem: string };

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: KIB,
  kib: KIB,
  m: MIB,
  mib: MIB,
  g: GIB,
  gib: GIB,
};

function convert(opt: ConfigOption, raw: string | boolean): Converted {
  if (opt.kind === 'boolean') {
    if (typeof raw === 'boolean') return { value: raw };
    const lower = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(lower)) return { value: true };
    if (['false', '0', 'no', 'off'].includes(lower)) return { value: false };
    return { problem: `must be true or false, got ${describeValue(raw)}` };
  }
  if (typeof raw === 'boolean') return { problem: 'needs a value' };
  const text = raw.trim();
  switch (opt.kind) {
    case 'string':
    case 'logLevel':
      return { value: text };
    case 'list':
      return {
        value: text
          .split(',')
          .map((item) => item.trim())
          .filter((item) => item.length > 0),
      };
    case 'integer':
      if (!/^-?\d{1,16}$/.test(text)) return { problem: `must be an integer, got ${describeValue(raw)}` };
      return { value: Number(text) };
    case 'bytes': {
      const match = /^(\d{1,16})\s*([A-Za-z]*)$/.exec(text);
      const unit = match ? BYTE_UNITS[match[2].toLowerCase()] : undefined;
      if (!match || unit === undefined) {
        return {
          problem: `must be a byte count such as 131072, 512KiB, 64MiB or 1GiB, got ${describeValue(raw)}`,
        };
      }
      return { value: Number(match[1]) * unit };
    }
  }
}

function originOf(origins: Map<string, string>, path: readonly string[]): string | undefined {
  for (let length = path.length; length > 0; length--) {
    const origin = origins.get(path.slice(0, length).join('.'));
    if (origin !== undefined) return origin;
  }
  return undefined;
}

function getPath(target: object, path: string): unknown {
  let current: unknown = target;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let current = target;
  for (const key of keys.slice(0, -1)) {
    const next = current[key];
    // A non-object here (e.g. "limits": 5 in the file) is replaced; the file's value was invalid anyway.
    if (next === null || typeof next !== 'object' || Array.isArray(next)) current[key] = {};
    else current[key] = { ...(next as Record<string, unknown>) };
    current = current[key] as Record<string, unknown>;
  }
  current[keys[keys.length - 1]] = value;
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? nonEmpty(value) : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function isScalar(value: unknown): boolean {
  return value !== undefined && (value === null || typeof value !== 'object');
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : String(value);
}

/** The configuration with secrets removed, for the start-up log line. */
export function redactConfig(config: BrokerConfig): unknown {
  return {
    ...config,
    users: config.users.map((user) => ({
      name: user.name,
      vhosts: user.vhosts,
      loopbackOnly: user.loopbackOnly,
    })),
    tls: { ...config.tls, keyPassphrase: config.tls.keyPassphrase === undefined ? undefined : '[redacted]' },
  };
}
