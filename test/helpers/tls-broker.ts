import { writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { type ConnectionOptions, connect as connectTls } from 'node:tls';
import type { ChannelModel } from 'amqplib';
import { openConfirmChannel } from './amqp-client.js';
import { type BrokerUnderTest, isExternalBroker, startBroker } from './broker-under-test.js';
import { type CertificateFiles, skipWithoutOpenssl, type TestPki } from './test-pki.js';

export interface TlsBrokerOptions {
  /** The server certificate and key; default the PKI's. */
  certificate?: CertificateFiles;
  /** Pass the PKI's CA as --tls-ca-file. Default true. */
  withCa?: boolean;
  /** Flags after the certificate flags, e.g. ['--tls-verify-peer', '--http-tls']. */
  extraArgs?: string[];
  env?: Record<string, string>;
  /** Written to a config file the broker reads (users, vhosts). */
  configFile?: Record<string, unknown>;
  onLogLine?: (line: string) => void;
}

/** Skips (outside CI) where openssl is missing, and against an external broker. */
export function tlsBrokerSkip(): string | false {
  return (isExternalBroker() && 'starts EventterMQ with TLS') || skipWithoutOpenssl();
}

/** Flags for amqps on a free port with this certificate. */
export function tlsArgs(certificate: CertificateFiles, caFile?: string): string[] {
  const ca = caFile === undefined ? [] : ['--tls-ca-file', caFile];
  return [
    '--amqps-port',
    '0',
    '--tls-cert-file',
    certificate.certFile,
    '--tls-key-file',
    certificate.keyFile,
    ...ca,
  ];
}

/** A broker child process with amqps on a free port, serving the PKI's server certificate. */
export async function startTlsBroker(pki: TestPki, options: TlsBrokerOptions = {}): Promise<BrokerUnderTest> {
  const configArgs: string[] = [];
  if (options.configFile !== undefined) {
    const path = join(pki.dir, `broker-${Math.random().toString(36).slice(2)}.json`);
    await writeFile(path, JSON.stringify(options.configFile));
    configArgs.push('--config', path);
  }
  const caFile = (options.withCa ?? true) ? pki.ca.certFile : undefined;
  return startBroker({
    extraArgs: [
      '--hosts',
      '127.0.0.1',
      ...tlsArgs(options.certificate ?? pki.server, caFile),
      ...configArgs,
      ...(options.extraArgs ?? []),
    ],
    env: options.env,
    onLogLine: options.onLogLine,
  });
}

/** amqps://user:pass@localhost:<amqps port>; localhost is the name the server certificate carries. */
export function amqpsUrl(broker: BrokerUnderTest, credentials = 'guest:guest@'): string {
  if (broker.amqpsPort === undefined) throw new Error('the broker has no amqps listener');
  return `amqps://${credentials}localhost:${broker.amqpsPort}`;
}

/** Publishes one message (confirmed) to a fresh exclusive queue and consumes it back; returns its body. */
export async function roundTrip(conn: ChannelModel, body: string): Promise<string> {
  const ch = await openConfirmChannel(conn);
  const { queue } = await ch.assertQueue('', { exclusive: true });
  ch.sendToQueue(queue, Buffer.from(body));
  await ch.waitForConfirms();
  const received = await new Promise<string>((resolve) => {
    void ch.consume(queue, (message) => {
      if (message === null) return;
      ch.ack(message);
      resolve(message.content.toString());
    });
  });
  await ch.close();
  return received;
}

/** The SHA-256 fingerprint of the certificate a TLS server presents on a fresh connection. */
export function serverFingerprint(options: ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTls({ servername: 'localhost', ...options }, () => {
      const { fingerprint256 } = socket.getPeerCertificate();
      socket.destroy();
      resolve(fingerprint256);
    });
    socket.once('error', reject);
  });
}

/** GET over HTTPS trusting `ca`; resolves with the status and the parsed JSON body. */
export function httpsGetJson(
  port: number,
  path: string,
  ca: string,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca, servername: 'localhost' }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => {
        try {
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) });
        } catch (err) {
          reject(err);
        }
      });
    });
    req.once('error', reject);
    req.end();
  });
}
