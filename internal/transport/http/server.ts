import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../observability/logger';

export interface AdminResponse {
  readonly status: number;
  readonly body: string;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface AdminRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export type AdminHandler = (req: AdminRequest) => AdminResponse | Promise<AdminResponse>;

/** Checks a request before its body is read (e.g. credentials): a response refuses it, null lets it through. */
export type AdminPreflight = (req: Omit<AdminRequest, 'body'>) => AdminResponse | null;

export interface AdminServerLimits {
  /** Open connections; further ones are closed as soon as they are accepted. */
  readonly maxConnections: number;
  /** Headers and body must all arrive within this (408 and close otherwise). */
  readonly requestTimeoutMs: number;
  /** Largest request body (413 beyond it). */
  readonly maxBodyBytes: number;
}

export const DEFAULT_ADMIN_LIMITS: AdminServerLimits = { maxConnections: 256, requestTimeoutMs: 10_000, maxBodyBytes: 4 * 1024 * 1024 };

export function json(status: number, value: unknown): AdminResponse {
  return { status, body: JSON.stringify(value), contentType: 'application/json' };
}

/**
 * The admin HTTP server (node:http: off the hot path). Routes are registered by main.ts; a
 * handler that throws answers 500 without leaking the error text. Its own limits keep it
 * reachable under abuse: a bounded number of connections, a deadline for each request, a bounded
 * body, and a route's preflight (the API token) checked before any body is read.
 */
export class AdminServer {
  private readonly routes = new Map<string, AdminHandler>();
  private readonly prefixRoutes: Array<{ method: string; prefix: string; handler: AdminHandler; preflight: AdminPreflight | undefined }> = [];
  private server: http.Server | null = null;
  port = 0;

  constructor(
    private readonly host: string,
    private readonly wantedPort: number,
    private readonly log: Logger,
    private readonly limits: AdminServerLimits = DEFAULT_ADMIN_LIMITS,
  ) {}

  route(method: string, path: string, handler: AdminHandler): this {
    this.routes.set(`${method} ${path}`, handler);
    return this;
  }

  /** Every path under `prefix` (e.g. the HTTP/JSON form of the gRPC API). */
  routePrefix(method: string, prefix: string, handler: AdminHandler, preflight?: AdminPreflight): this {
    this.prefixRoutes.push({ method, prefix, handler, preflight });
    return this;
  }

  listen(): Promise<number> {
    const l = this.limits;
    // timeouts are checked every second (node's default is every 30 s)
    const server = http.createServer({ connectionsCheckingInterval: 1000, requestTimeout: l.requestTimeoutMs, headersTimeout: l.requestTimeoutMs }, (req, res) => this.handle(req, res));
    server.keepAliveTimeout = 5000;
    server.maxConnections = l.maxConnections;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.wantedPort, this.host, () => {
        server.off('error', reject);
        this.port = (server.address() as AddressInfo).port;
        resolve(this.port);
      });
    });
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s === null) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let url: URL;
    try {
      // a request target such as `//` or `//[` is no URL relative to the base: 400, not a throw
      url = new URL(req.url ?? '/', 'http://admin');
    } catch {
      this.refuse(req, res, json(400, { error: 'malformed request target' }));
      return;
    }
    const method = req.method ?? 'GET';
    const lookup = method === 'HEAD' ? 'GET' : method;
    let handler = this.routes.get(`${lookup} ${url.pathname}`);
    let preflight: AdminPreflight | undefined;
    if (handler === undefined) {
      const r = this.prefixRoutes.find((p) => p.method === lookup && url.pathname.startsWith(p.prefix));
      handler = r?.handler;
      preflight = r?.preflight;
    }
    if (handler === undefined) {
      const allowed = [...this.routes.keys()].some((k) => k.endsWith(` ${url.pathname}`));
      this.refuse(req, res, allowed ? json(405, { error: 'method not allowed' }) : json(404, { error: 'not found' }));
      return;
    }
    const refused = preflight?.({ method, path: url.pathname, query: url.searchParams, headers: req.headers }) ?? null;
    if (refused !== null) {
      this.refuse(req, res, refused);
      return;
    }
    const maxBody = this.limits.maxBodyBytes;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBody) {
      this.refuse(req, res, json(413, { error: `body over ${maxBody} bytes` }));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      if (tooBig) return;
      size += c.length;
      if (size <= maxBody) {
        chunks.push(c);
        return;
      }
      tooBig = true;
      chunks.length = 0;
      this.refuse(req, res, json(413, { error: `body over ${maxBody} bytes` }));
    });
    req.on('end', () => {
      if (tooBig) return;
      const h = handler;
      Promise.resolve()
        .then(() => h({ method, path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks) }))
        .then(
          (r) => this.write(res, r),
          (e: unknown) => {
            this.log.error({ err: e, path: url.pathname }, 'admin handler failed');
            this.write(res, json(500, { error: 'internal error' }));
          },
        );
    });
    req.on('error', () => res.destroy());
  }

  /** Answers without reading the body, and closes the connection (its body is never read). */
  private refuse(req: http.IncomingMessage, res: http.ServerResponse, r: AdminResponse): void {
    const bodyPending = !req.complete;
    if (bodyPending) res.setHeader('connection', 'close');
    this.write(res, r);
    if (bodyPending) res.once('finish', () => req.destroy());
  }

  private write(res: http.ServerResponse, r: AdminResponse): void {
    if (res.headersSent) return;
    res.writeHead(r.status, { 'content-type': r.contentType ?? 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...r.headers });
    res.end(r.body);
  }
}
