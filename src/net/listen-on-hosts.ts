import { isIPv4, isIPv6, type Server } from 'node:net';

export interface BoundAddress {
  host: string;
  port: number;
}

export interface HostListeners {
  servers: Server[];
  addresses: BoundAddress[];
}

const WILDCARDS = new Set(['0.0.0.0', '::']);
// Errors meaning "this machine has no such address family", e.g. IPv6 disabled in a container.
const FAMILY_UNAVAILABLE = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL']);

/**
 * Listens on every host with one server each, all on the same port. With port 0 the first listener picks
 * a free port and the others reuse it, so a service has one port whatever the address family.
 *
 * An IPv6 address listed next to IPv4 ones is bound IPv6-only: on Linux '::' would otherwise also take
 * the IPv4 wildcard and the '0.0.0.0' bind would fail with EADDRINUSE. A wildcard whose address family
 * the machine lacks is skipped with a warning; any other failure closes what was opened and throws.
 */
export async function listenOnHosts(
  createServer: () => Server,
  hosts: readonly string[],
  port: number,
  warn: (details: { host: string; code: string }, message: string) => void = () => {},
): Promise<HostListeners> {
  const hasIPv4 = hosts.some((host) => isIPv4(host));
  const servers: Server[] = [];
  const addresses: BoundAddress[] = [];
  let chosenPort = port;
  try {
    for (const host of hosts) {
      const server = createServer();
      try {
        await listen(server, host, chosenPort, hasIPv4 && isIPv6(host));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (WILDCARDS.has(host) && FAMILY_UNAVAILABLE.has(code)) {
          warn({ host, code }, 'address family unavailable, not listening on it');
          continue;
        }
        throw err;
      }
      servers.push(server);
      const bound = server.address();
      const boundPort = bound !== null && typeof bound === 'object' ? bound.port : chosenPort;
      chosenPort = boundPort;
      addresses.push({ host, port: boundPort });
    }
  } catch (err) {
    await closeServers(servers);
    throw err;
  }
  if (servers.length === 0) throw new Error(`could not listen on any of ${hosts.join(', ')}`);
  return { servers, addresses };
}

function listen(server: Server, host: string, port: number, ipv6Only: boolean): Promise<void> {
  // A failed listen is reported once, by the rejection: the server's own 'error' listeners (for errors
  // while serving) are held back until it is listening, so they do not log the same failure again.
  const servingListeners = server.listeners('error') as Array<(err: Error) => void>;
  server.removeAllListeners('error');
  const restoreServingListeners = () => {
    for (const listener of servingListeners) server.on('error', listener);
  };
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      restoreServingListeners();
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      restoreServingListeners();
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, ipv6Only });
  });
}

/** Stops accepting on every server; resolves once each has closed (existing connections are not touched). */
export async function closeServers(servers: readonly Server[]): Promise<void> {
  await Promise.all(
    servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          if (!server.listening) return resolve();
          server.close(() => resolve());
        }),
    ),
  );
}
