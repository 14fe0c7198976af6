/** A tiny client of a spawned broker's management API, for integration tests. */
export type AdminApi = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; json: unknown }>;

export function adminApi(httpPort: number, credentials = 'guest:guest'): AdminApi {
  const authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  return async (method, path, body) => {
    const response = await fetch(`http://127.0.0.1:${httpPort}${path}`, {
      method,
      headers: {
        authorization,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, json: text === '' ? undefined : JSON.parse(text) };
  };
}

/** The JSON log records of a broker's stdout lines. */
export function logRecords(lines: readonly string[]): Array<Record<string, unknown>> {
  const records: Array<Record<string, unknown>> = [];
  for (const line of lines) {
    try {
      records.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a log line
    }
  }
  return records;
}
