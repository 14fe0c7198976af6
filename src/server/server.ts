import { performance } from 'node:perf_hooks';
import type { SecureContextOptions } from 'node:tls';
import type { VHost } from '../core/vhost.js';
import type { BoundAddress } from '../net/listen-on-hosts.js';
import type { BrokerHandle, ProtocolServerHandle, ServerComponents } from './components.js';
import { defaultComponents } from './components.js';
import { type BrokerConfig, redactConfig } from './config.js';
import { importDefinitionsAtStart } from './definitions-at-start.js';
import { HEALTH_STAT_NAMES, type HealthReport, type HttpServer, startHttpServer } from './http-server.js';
import type { Logger } from './logger.js';
import { logDefinitionsWarnings } from './management-definitions.js';
import { ResourceAlarm } from './resource-alarm.js';
import { explainDataDirFailure, explainListenFailure } from './startup-error.js';
import { loadTlsAtStart, TlsReloader, tlsFilesOf } from './tls-setup.js';

/** Where MQTT over WebSocket is served on the HTTP listener (RabbitMQ's Web MQTT plugin uses /ws). */
export const MQTT_WEBSOCKET_PATH = '/mqtt';

/** Reply text clients see with connection.close 320 when the broker shuts down (RabbitMQ wording). */
export const SHUTDOWN_REPLY_TEXT = "broker forced connection closure with reason 'shutdown'";

/** A protocol adapter's server, named for logs. */
interface ProtocolAdapter {
  name: string;
  handle: ProtocolServerHandle;
}

export interface StartServerOptions {
  /** Defaults to the real Broker and AmqpServer. */
  components?: ServerComponents;
  /**
   * Install SIGTERM/SIGINT and uncaught-error handlers that end the process, and SIGHUP, which reloads the
   * TLS files. Default true.
   */
  handleProcessEvents?: boolean;
  /** How the process handlers end the process. Default process.exit. */
  exit?: (code: number) => void;
}

export interface RunningServer {
  readonly amqpAddresses: readonly BoundAddress[];
  /** Empty when no TLS certificate is configured. */
  readonly amqpsAddresses: readonly BoundAddress[];
  /** Empty when MQTT is disabled. */
  readonly mqttAddresses: readonly BoundAddress[];
  /** Empty when MQTT is disabled or no TLS certificate is configured. */
  readonly mqttsAddresses: readonly BoundAddress[];
  /** Empty when HTTP is disabled. */
  readonly httpAddresses: readonly BoundAddress[];
  /** Reads the TLS files again for new connections (SIGHUP); resolves true when new ones were applied. */
  reloadTls(): Promise<boolean>;
  /**
   * Graceful stop: stop accepting, close every AMQP connection with 320 CONNECTION_FORCED, flush the
   * broker, close HTTP. Idempotent; every step runs even if an earlier one fails, then the first error
   * is thrown.
   */
  stop(): Promise<void>;
}

/** Opens the broker, starts the AMQP, MQTT and HTTP listeners and logs where they listen. */
export async function startServer(
  config: BrokerConfig,
  logger: Logger,
  options: StartServerOptions = {},
): Promise<RunningServer> {
  const startedAt = performance.now();
  // Handlers go in before anything starts: a signal that arrives during start-up must not kill the process
  // with the default action half way through opening the data directory. It stops the server once started.
  let startupDone: (server: RunningServer | undefined) => void = () => {};
  const started = new Promise<RunningServer | undefined>((resolve) => {
    startupDone = resolve;
  });
  if (options.handleProcessEvents ?? true) {
    installProcessHandlers(
      () => started.then((server) => server?.stop()),
      logger,
      options.exit ?? ((code) => process.exit(code)),
    );
    process.on('SIGHUP', () => {
      logger.info({ signal: 'SIGHUP' }, 'reload requested');
      void started.then((server) => server?.reloadTls());
    });
  }
  try {
    const server = await openAll(config, logger, options.components, startedAt);
    startupDone(server);
    return server;
  } catch (err) {
    startupDone(undefined);
    throw err;
  }
}

async function openAll(
  config: BrokerConfig,
  logger: Logger,
  givenComponents: ServerComponents | undefined,
  startedAt: number,
): Promise<RunningServer> {
  const components = givenComponents ?? defaultComponents;
  logger.info({ config: redactConfig(config) }, 'starting');
  // Before the data directory: a bad certificate is reported without touching the broker's state.
  const tlsFiles = tlsFilesOf(config);
  const tls = tlsFiles === undefined ? undefined : await loadTlsAtStart(tlsFiles, logger);

  const broker = await components.openBroker(config, logger).catch((err: unknown) => {
    throw explainDataDirFailure(config.dataDir, err) ?? err;
  });
  // The protocol adapters, in start order; shutdown closes them in the same order, before the broker.
  const adapters: ProtocolAdapter[] = [];
  let http: HttpServer | undefined;
  let stopping = false;
  let alarm: ResourceAlarm | undefined;
  try {
    if (config.definitions !== '' && broker.definitions)
      await importDefinitionsAtStart(broker.definitions, config.definitions, logger);
    const amqp = components.createAmqpServer(broker, config, logger);
    adapters.push({ name: 'AMQP', handle: amqp });
    const mqtt =
      config.mqttEnabled && components.createMqttServer
        ? components.createMqttServer(broker, config, logger)
        : undefined;
    if (mqtt) adapters.push({ name: 'MQTT', handle: mqtt });
    const resourceAlarm = new ResourceAlarm(
      {
        dataDir: config.dataDir,
        memoryHighWatermark: config.limits.memoryHighWatermarkPercent / 100,
        diskFreeLimitBytes: config.limits.diskFreeLimitBytes,
      },
      (reason) => {
        for (const adapter of adapters) adapter.handle.setBlocked?.(reason);
      },
      logger,
    );
    alarm = resourceAlarm;
    // Before the first client connects: on a nearly full disk publishers start blocked, not one poll later.
    await resourceAlarm.check();
    resourceAlarm.start();
    broker.onStoreWriteError?.(() => resourceAlarm.requestCheck());
    const tlsListener = (port: number) => ({
      port,
      context: tls!.context,
      verifyPeer: config.tls.verifyPeer,
      failIfNoPeerCert: config.tls.failIfNoPeerCert,
    });
    const amqpAddresses = await amqp.listen().catch(explainedListenFailure('AMQP', '--amqp-port'));
    let amqpsAddresses: BoundAddress[] = [];
    if (tls !== undefined) {
      if (amqp.listenTls === undefined) throw new Error('the AMQP server cannot listen with TLS');
      amqpsAddresses = await amqp
        .listenTls(tlsListener(config.amqpsPort))
        .catch(explainedListenFailure('AMQPS', '--amqps-port'));
    }
    let mqttAddresses: BoundAddress[] = [];
    let mqttsAddresses: BoundAddress[] = [];
    if (mqtt) {
      await mqtt.start?.();
      mqttAddresses = await mqtt.listen().catch(explainedListenFailure('MQTT', '--mqtt-port'));
      if (tls !== undefined && mqtt.listenTls !== undefined) {
        mqttsAddresses = await mqtt
          .listenTls(tlsListener(config.mqttsPort))
          .catch(explainedListenFailure('MQTTS', '--mqtts-port'));
      }
    }
    const httpTls = config.tls.http ? tls?.context : undefined;
    const httpProtocol = httpTls === undefined ? 'http' : 'https';
    if (config.httpEnabled) {
      http = await startHttpServer({
        hosts: config.hosts,
        port: config.httpPort,
        tls: httpTls,
        upgrades:
          mqtt?.webSocketUpgrade && config.mqtt.webSocket
            ? { [MQTT_WEBSOCKET_PATH]: mqtt.webSocketUpgrade() }
            : undefined,
        logger,
        health: () => healthReport(broker, adapters, startedAt, stopping),
        management:
          broker.admin && broker.authenticate
            ? {
                admin: broker.admin,
                authenticate: (user, password, address) => broker.authenticate!(user, password, address),
                messageCounts: (vhost) => broker.messageCounts?.(vhost),
                streams: broker.streams,
                definitions: broker.definitions && logDefinitionsWarnings(broker.definitions, logger),
                logger,
              }
            : undefined,
        queueApi:
          broker.vhost && broker.authenticate
            ? {
                vhost: (name) => broker.vhost!(name) as VHost | undefined,
                authenticate: (user, password, address) => broker.authenticate!(user, password, address),
                logger,
              }
            : undefined,
      }).catch(explainedListenFailure(httpProtocol.toUpperCase(), '--http-port'));
    }
    const httpAddresses = http?.addresses ?? [];
    // Logged once everything is up, so a supervisor that sees these lines can connect to either protocol.
    for (const address of amqpAddresses) logger.info({ protocol: 'amqp', ...address }, 'listening');
    for (const address of amqpsAddresses) logger.info({ protocol: 'amqps', ...address }, 'listening');
    for (const address of mqttAddresses) logger.info({ protocol: 'mqtt', ...address }, 'listening');
    for (const address of mqttsAddresses) logger.info({ protocol: 'mqtts', ...address }, 'listening');
    for (const address of httpAddresses) logger.info({ protocol: httpProtocol, ...address }, 'listening');
    logger.info({ dataDir: config.dataDir, startupMs: Math.round(performance.now() - startedAt) }, 'started');

    const tlsTargets = adapters.map(
      ({ handle }) =>
        (context: SecureContextOptions) =>
          handle.setSecureContext?.(context),
    );
    const httpServer = http;
    if (httpTls !== undefined && httpServer !== undefined) {
      tlsTargets.push((context) => httpServer.setSecureContext(context));
    }
    const reloader = tlsFiles === undefined ? undefined : new TlsReloader(tlsFiles, tlsTargets, logger);
    let stopped: Promise<void> | undefined;
    return {
      amqpAddresses,
      amqpsAddresses,
      mqttAddresses,
      mqttsAddresses,
      httpAddresses,
      async reloadTls() {
        if (reloader === undefined) {
          logger.info('no TLS certificate configured, nothing to reload');
          return false;
        }
        return reloader.reload();
      },
      stop() {
        stopping = true;
        alarm?.stop();
        stopped ??= shutDown(broker, adapters, http, logger);
        return stopped;
      },
    };
  } catch (err) {
    // Start-up failed part way (e.g. port in use): release what was opened so no data is left unflushed.
    alarm?.stop();
    await shutDown(broker, adapters, http, logger).catch((closeErr: unknown) => {
      logger.error({ err: closeErr }, 'cleanup after failed start failed');
    });
    throw err;
  }
}

function explainedListenFailure(protocol: string, portFlag: string): (err: unknown) => never {
  return (err) => {
    throw explainListenFailure(protocol, portFlag, err) ?? err;
  };
}

async function healthReport(
  broker: BrokerHandle,
  adapters: readonly ProtocolAdapter[],
  startedAt: number,
  stopping: boolean,
): Promise<HealthReport> {
  const report: HealthReport = {
    status: stopping ? 'stopping' : 'ok',
    uptimeSeconds: Math.floor((performance.now() - startedAt) / 1000),
  };
  const stats = broker.stats === undefined ? undefined : await broker.stats();
  for (const name of HEALTH_STAT_NAMES) {
    const value = stats?.[name];
    if (typeof value === 'number') report[name] = value;
  }
  const counts = adapters.map(({ handle }) => handle.connectionCount).filter((n) => n !== undefined);
  if (counts.length > 0) report.connections = counts.reduce((sum, n) => sum + n, 0);
  if (stats?.storageDamage !== undefined && stats.storageDamage.length > 0) {
    report.storageDamage = stats.storageDamage;
    if (report.status === 'ok') report.status = 'degraded';
  }
  return report;
}

async function shutDown(
  broker: BrokerHandle,
  adapters: readonly ProtocolAdapter[],
  http: HttpServer | undefined,
  logger: Logger,
): Promise<void> {
  logger.info('stopping');
  const steps: Array<[string, () => Promise<void>]> = [];
  for (const { name, handle: adapter } of adapters) {
    steps.push([
      `close ${name} listeners and connections`,
      async () => {
        // A net.Server stops accepting as soon as close() is called, but its close promise only settles
        // once every connection is gone; so start it, then close the connections, then wait for both.
        const listenersClosed = adapter.stopAccepting();
        const connectionsClosed = adapter.closeAllConnections(SHUTDOWN_REPLY_TEXT);
        await Promise.all([listenersClosed, connectionsClosed]);
      },
    ]);
  }
  // The broker closes after its clients so in-flight publishes are flushed before files close.
  steps.push(['close broker', () => broker.close()]);
  // HTTP goes last: load balancers keep seeing 503 "stopping" while the broker drains.
  if (http !== undefined) steps.push(['close HTTP server', () => http.close()]);

  let firstError: unknown;
  for (const [step, run] of steps) {
    try {
      await run();
    } catch (err) {
      logger.error({ err, step }, 'shutdown step failed');
      firstError ??= err;
    }
  }
  if (firstError !== undefined) throw firstError;
  logger.info('stopped');
}

/**
 * How soon a repeat of the first signal counts as the same request delivered twice. Ctrl-C under `npm start`
 * does that: the terminal signals the whole process group and npm forwards its own copy to the broker.
 */
export const DUPLICATE_SIGNAL_WINDOW_MS = 500;

/**
 * SIGTERM/SIGINT: graceful stop, then exit 0 (1 if the stop failed). A second signal exits 1 at once,
 * unless it repeats the first within DUPLICATE_SIGNAL_WINDOW_MS.
 * An uncaught exception or unhandled rejection is a bug in the broker itself: log it as fatal and exit 1.
 * Returns a function that removes the handlers.
 */
export function installProcessHandlers(
  stop: () => Promise<void>,
  logger: Logger,
  exit: (code: number) => void,
  duplicateWindowMs = DUPLICATE_SIGNAL_WINDOW_MS,
): () => void {
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (first !== undefined) {
      if (signal === first.signal && performance.now() - first.at < duplicateWindowMs) {
        logger.info({ signal }, 'same signal again, taken as the same shutdown request');
        return;
      }
      logger.warn({ signal }, 'second signal during shutdown, exiting now');
      exit(1);
      return;
    }
    first = { signal, at: performance.now() };
    logger.info({ signal }, 'shutdown requested');
    stop().then(
      () => exit(0),
      (err: unknown) => {
        logger.fatal({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  const onUncaught = (err: unknown) => {
    logger.fatal({ err }, 'uncaught error, exiting');
    exit(1);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  };
}
