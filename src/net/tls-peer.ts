import type { PeerCertificate, SecureContextOptions, TLSSocket, TlsOptions } from 'node:tls';

/** Whether a TLS listener asks clients for certificates, and what it does without one. */
export interface ClientCertificatePolicy {
  /** Ask for a client certificate and verify it against the CA (RabbitMQ's verify_peer). */
  verifyPeer: boolean;
  /** With verifyPeer: refuse clients that send none (RabbitMQ's fail_if_no_peer_cert). */
  failIfNoPeerCert: boolean;
}

/** A client certificate the TLS layer verified against the CA: the transport vouches for this identity. */
export interface VerifiedPeer {
  /** The certificate subject's common name; undefined when it has none or several. */
  commonName: string | undefined;
}

export type PeerCheck =
  | { accepted: true; peer: VerifiedPeer | undefined }
  | { accepted: false; reason: string; subject?: string };

/** Options for tls.createServer: the credentials, the client-certificate policy, a bounded handshake. */
export function tlsServerOptions(
  context: SecureContextOptions,
  policy: ClientCertificatePolicy,
  handshakeTimeoutMs: number,
): TlsOptions {
  return {
    ...context,
    requestCert: policy.verifyPeer,
    // Certificates are judged per connection in checkClientCertificate, so every refusal is logged with
    // its reason; Node's own rejection would drop the socket without a word.
    rejectUnauthorized: false,
    handshakeTimeout: handshakeTimeoutMs,
  };
}

/** Decides, once the handshake is done, whether a TLS client may go on, and who it proved to be. */
export function checkClientCertificate(socket: TLSSocket, policy: ClientCertificatePolicy): PeerCheck {
  if (!policy.verifyPeer) return { accepted: true, peer: undefined };
  const certificate = socket.getPeerCertificate();
  const presented = certificate !== null && Object.keys(certificate).length > 0;
  if (!presented) {
    return policy.failIfNoPeerCert
      ? { accepted: false, reason: 'no client certificate (tls.failIfNoPeerCert)' }
      : { accepted: true, peer: undefined };
  }
  const subject = formatSubject(certificate);
  if (!socket.authorized) {
    return { accepted: false, reason: String(socket.authorizationError ?? 'not verified'), subject };
  }
  return { accepted: true, peer: { commonName: singleValue(certificate.subject?.CN) } };
}

function formatSubject(certificate: PeerCertificate): string {
  return Object.entries(certificate.subject ?? {})
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(', ');
}

// A subject may repeat an attribute (Node gives an array then): a login name must not be a guess.
function singleValue(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
