/** Tiny HTTP helpers (node:http) for the admin port. */
import * as http from 'node:http';

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON, when it is JSON. */
  json?: unknown;
}

export interface HttpOptions {
  headers?: Record<string, string>;
  /** Default 5 s. */
  timeoutMs?: number;
}

/** One HTTP request; rejects on connection errors and timeouts, never on an HTTP status. */
export function httpRequest(method: string, url: string, body?: string | Buffer, opts: HttpOptions = {}): Promise<HttpResult> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  return new Promise<HttpResult>((resolve, reject) => {
    const headers: Record<string, string | number> = { ...opts.headers };
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const result: HttpResult = { status: res.statusCode ?? 0, headers: res.headers, body: text };
        if (text.length > 0) {
          try {
            result.json = JSON.parse(text) as unknown;
          } catch {
            // not JSON
          }
        }
        resolve(result);
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url}: no response within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export function httpGet(url: string, headers?: Record<string, string>, timeoutMs?: number): Promise<HttpResult> {
  const opts: HttpOptions = {};
  if (headers) opts.headers = headers;
  if (timeoutMs !== undefined) opts.timeoutMs = timeoutMs;
  return httpRequest('GET', url, undefined, opts);
}

export function httpPostJson(url: string, body: unknown, headers?: Record<string, string>, timeoutMs?: number): Promise<HttpResult> {
  const opts: HttpOptions = { headers: { 'content-type': 'application/json', ...headers } };
  if (timeoutMs !== undefined) opts.timeoutMs = timeoutMs;
  return httpRequest('POST', url, typeof body === 'string' ? body : JSON.stringify(body), opts);
}
