/**
 * A local OTLP/HTTP trace receiver for tests: a node:http server (127.0.0.1, a free port below
 * 32768) taking what @opentelemetry/exporter-trace-otlp-http posts to /v1/traces (OTLP JSON),
 * answering 200 and keeping every span, flattened, with its resource's attributes.
 */
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import { freePort } from './ports';

export type AttrValue = string | number | boolean;

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly attributes: Readonly<Record<string, AttrValue>>;
  readonly resource: Readonly<Record<string, AttrValue>>;
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
  readonly statusMessage: string;
}

export const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const;

interface OtlpAnyValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
interface OtlpSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number;
  attributes?: OtlpKeyValue[];
  status?: { code?: number; message?: string };
}
interface OtlpRequest {
  resourceSpans?: Array<{ resource?: { attributes?: OtlpKeyValue[] }; scopeSpans?: Array<{ spans?: OtlpSpan[] }> }>;
}

function attrs(list: OtlpKeyValue[] | undefined): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const kv of list ?? []) {
    const v = kv.value ?? {};
    if (v.stringValue !== undefined) out[kv.key] = v.stringValue;
    else if (v.intValue !== undefined) out[kv.key] = Number(v.intValue);
    else if (v.doubleValue !== undefined) out[kv.key] = v.doubleValue;
    else if (v.boolValue !== undefined) out[kv.key] = v.boolValue;
  }
  return out;
}

/** Trace and span ids are lowercase hex in OTLP JSON; base64 (the protobuf JSON mapping) is accepted too. */
function hexId(v: string | undefined): string {
  if (v === undefined || v === '') return '';
  if (/^[0-9a-f]+$/i.test(v) && (v.length === 32 || v.length === 16)) return v.toLowerCase();
  return Buffer.from(v, 'base64').toString('hex');
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Every request body as received (to check what never appears in it, e.g. tokens). */
  readonly bodies: string[] = [];
  /** Content types of the requests. */
  readonly contentTypes: string[] = [];
  private readonly events = new EventEmitter();

  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {
    this.events.setMaxListeners(0);
  }

  /** http://127.0.0.1:<port>/v1/traces */
  get url(): string {
    return `http://127.0.0.1:${this.port}/v1/traces`;
  }

  static async start(): Promise<OtlpReceiver> {
    const port = await freePort();
    const server = http.createServer();
    const receiver = new OtlpReceiver(server, port);
    server.on('request', (req, res) => receiver.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return receiver;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      this.bodies.push(body);
      this.contentTypes.push(String(req.headers['content-type'] ?? ''));
      let parsed: OtlpRequest;
      try {
        parsed = JSON.parse(body) as OtlpRequest;
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"message":"not JSON"}');
        return;
      }
      for (const rs of parsed.resourceSpans ?? []) {
        const resource = attrs(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            this.spans.push({
              traceId: hexId(s.traceId),
              spanId: hexId(s.spanId),
              parentSpanId: hexId(s.parentSpanId),
              name: s.name ?? '',
              kind: s.kind ?? 0,
              attributes: attrs(s.attributes),
              resource,
              statusCode: s.status?.code ?? 0,
              statusMessage: s.status?.message ?? '',
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      this.events.emit('spans');
    });
  }

  /** Spans of one trace. */
  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  /** Resolves with the first span matching `predicate` (now or once it arrives); rejects after timeoutMs naming what arrived. */
  waitForSpan(predicate: (s: ReceivedSpan) => boolean, timeoutMs: number, what: string): Promise<ReceivedSpan> {
    const found = this.spans.find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const onSpans = (): void => {
        const s = this.spans.find(predicate);
        if (s === undefined) return;
        clearTimeout(timer);
        this.events.off('spans', onSpans);
        resolve(s);
      };
      const timer = setTimeout(() => {
        this.events.off('spans', onSpans);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received ${this.spans.length} spans: ${this.spans.map((s) => `${s.name}@${s.traceId.slice(0, 8)}`).join(', ')}`));
      }, timeoutMs);
      this.events.on('spans', onSpans);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}
