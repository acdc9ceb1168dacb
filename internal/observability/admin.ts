import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger';

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

export function json(status: number, value: unknown): AdminResponse {
  return { status, body: JSON.stringify(value), contentType: 'application/json' };
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * The admin HTTP server (node:http: off the hot path). Routes are registered by main.ts; a
 * handler that throws answers 500 without leaking the error text.
 */
export class AdminServer {
  private readonly routes = new Map<string, AdminHandler>();
  private readonly prefixRoutes: Array<{ method: string; prefix: string; handler: AdminHandler }> = [];
  private server: http.Server | null = null;
  port = 0;

  constructor(
    private readonly host: string,
    private readonly wantedPort: number,
    private readonly log: Logger,
  ) {}

  route(method: string, path: string, handler: AdminHandler): this {
    this.routes.set(`${method} ${path}`, handler);
    return this;
  }

  /** Every path under `prefix` (e.g. the HTTP/JSON form of the gRPC API). */
  routePrefix(method: string, prefix: string, handler: AdminHandler): this {
    this.prefixRoutes.push({ method, prefix, handler });
    return this;
  }

  listen(): Promise<number> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 5000;
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
    const url = new URL(req.url ?? '/', 'http://admin');
    const method = req.method ?? 'GET';
    const lookup = method === 'HEAD' ? 'GET' : method;
    let handler = this.routes.get(`${lookup} ${url.pathname}`);
    if (handler === undefined) handler = this.prefixRoutes.find((r) => r.method === lookup && url.pathname.startsWith(r.prefix))?.handler;
    if (handler === undefined) {
      const allowed = [...this.routes.keys()].some((k) => k.endsWith(` ${url.pathname}`));
      this.write(res, allowed ? json(405, { error: 'method not allowed' }) : json(404, { error: 'not found' }));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) tooBig = true;
      else chunks.push(c);
    });
    req.on('end', () => {
      if (tooBig) {
        this.write(res, json(413, { error: `body over ${MAX_BODY_BYTES} bytes` }));
        return;
      }
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

  private write(res: http.ServerResponse, r: AdminResponse): void {
    if (res.headersSent) return;
    res.writeHead(r.status, { 'content-type': r.contentType ?? 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...r.headers });
    res.end(r.body);
  }
}
