/** A plain HTTP client for the Zaqar v2 API (fetch), as the tests drive both EventterMQ and the real Zaqar. */

export const CLIENT_ID = '3381af92-2b9e-11e3-b191-71861300734c';
export const OTHER_CLIENT_ID = 'b8f3a4c2-6d1e-4f0a-9c3b-2e7d5a1f8c64';
export const GUEST_AUTH = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

export interface ApiResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, or the text when the body is not JSON (undefined when empty). */
  body: unknown;
}

export interface RequestOptions {
  /** Serialised as JSON, unless a string or Buffer (sent as is). */
  body?: unknown;
  /** Replace or remove (undefined) the default headers. */
  headers?: Record<string, string | undefined>;
}

export class QueueApiClient {
  constructor(
    readonly baseUrl: string,
    readonly project: string | undefined,
    readonly clientId = CLIENT_ID,
    readonly authorization: string | undefined = GUEST_AUTH,
  ) {}

  /** The same server, another Client-ID (Zaqar's echo filter tells them apart). */
  as(clientId: string): QueueApiClient {
    return new QueueApiClient(this.baseUrl, this.project, clientId, this.authorization);
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = { 'Client-ID': this.clientId };
    if (this.project !== undefined) headers['X-Project-ID'] = this.project;
    if (this.authorization !== undefined) headers.Authorization = this.authorization;
    let body: string | Buffer | undefined;
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body =
        typeof options.body === 'string' || Buffer.isBuffer(options.body)
          ? options.body
          : JSON.stringify(options.body);
    }
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      const existing = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
      if (existing !== undefined) delete headers[existing];
      if (value !== undefined) headers[name] = value;
    }
    const res = await fetch(`${this.baseUrl}${path}`, { method, headers, body });
    const text = await res.text();
    let parsed: unknown;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: res.status, headers: res.headers, body: parsed };
  }

  get(path: string, options?: RequestOptions) {
    return this.request('GET', path, options);
  }
  put(path: string, body?: unknown, options?: RequestOptions) {
    return this.request('PUT', path, { ...options, body });
  }
  post(path: string, body?: unknown, options?: RequestOptions) {
    return this.request('POST', path, { ...options, body });
  }
  patch(path: string, body?: unknown, options?: RequestOptions) {
    return this.request('PATCH', path, { ...options, body });
  }
  delete(path: string, options?: RequestOptions) {
    return this.request('DELETE', path, options);
  }

  /** Posts messages and returns their ids (the last path segment of each resource). */
  async postMessages(queue: string, messages: unknown[]): Promise<string[]> {
    const res = await this.post(`/v2/queues/${queue}/messages`, { messages });
    if (res.status !== 201) throw new Error(`post failed: ${res.status} ${JSON.stringify(res.body)}`);
    return (res.body as { resources: string[] }).resources.map((href) => href.split('/').pop() ?? '');
  }

  /** Claims and returns the claim id (undefined on 204) and the claimed messages. */
  async claim(
    queue: string,
    terms: { ttl?: number; grace?: number } = {},
    limit?: number,
  ): Promise<{ claimId?: string; messages: Array<{ id: string; body: unknown; ttl: number }> }> {
    const query = limit === undefined ? '' : `?limit=${limit}`;
    const res = await this.post(`/v2/queues/${queue}/claims${query}`, terms);
    if (res.status === 204) return { messages: [] };
    if (res.status !== 201) throw new Error(`claim failed: ${res.status} ${JSON.stringify(res.body)}`);
    const location = res.headers.get('location') ?? '';
    return {
      claimId: location.split('/').pop(),
      messages: (res.body as { messages: Array<{ id: string; body: unknown; ttl: number }> }).messages,
    };
  }
}
