/**
 * `npm run cli -- <command> [options]`: the operator's command line for a gateway's push API, over
 * its HTTP/JSON form (default, the admin port) or gRPC (`--grpc host:port`). The API token comes
 * from IMA_API_TOKEN. Readable output by default, the raw response with `--json`. Exit codes: 0
 * done, 1 the gateway answered with an error, 2 bad usage or the gateway could not be reached.
 */
import * as grpc from '@grpc/grpc-js';
import { parseArgs } from 'node:util';
import { loadProto } from '../internal/rpc/proto';

const HELP = `npm run cli -- <command> [options]

commands:
  push       --user U | --users A,B  --type T [--payload JSON|TEXT] [--devices D1,D2] [--platforms P1,P2]
  broadcast  --type T [--payload ...] [--platforms P1,P2]
  kick       --user U [--device D] [--reason TEXT]
  status     --users A,B
  rooms      join|leave --room R --users A,B
             push --room R --type T [--payload ...] [--exclude A,B] [--platforms P1,P2]
             status --rooms R1,R2

options:
  --url URL        the gateway's admin port (HTTP/JSON API), default http://127.0.0.1:8081
  --grpc HOST:PORT call the gRPC API instead
  --json           print the gateway's response as JSON
  --timeout MS     the call's deadline, default 10000
  -h, --help       this text

The API token (server.apiToken) is read from IMA_API_TOKEN. A payload that is valid JSON is sent as
that JSON (the client receives it as JSON); any other text is sent as UTF-8 text.

examples:
  npm run cli -- push --user alice --type notice --payload '{"text":"hi"}'
  npm run cli -- rooms push --room team --type notice --payload hello --json
  npm run cli -- status --users alice,bob
`;

type Values = Record<string, string | boolean | undefined>;

class Usage extends Error {}

function list(v: string | boolean | undefined): string[] {
  return typeof v === 'string' && v !== '' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : [];
}

function need(v: Values, key: string): string {
  const x = v[key];
  if (typeof x !== 'string' || x === '') throw new Usage(`--${key} is required`);
  return x;
}

function message(v: Values): Record<string, unknown> {
  const payload = typeof v['payload'] === 'string' ? v['payload'] : '';
  return { type: need(v, 'type'), payload: Buffer.from(payload, 'utf8').toString('base64') };
}

/** The method and the proto3-JSON request of a command line. */
export function request(args: string[]): { method: string; body: Record<string, unknown> } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      user: { type: 'string' },
      users: { type: 'string' },
      type: { type: 'string' },
      payload: { type: 'string' },
      devices: { type: 'string' },
      device: { type: 'string' },
      platforms: { type: 'string' },
      reason: { type: 'string' },
      room: { type: 'string' },
      rooms: { type: 'string' },
      exclude: { type: 'string' },
      url: { type: 'string' },
      grpc: { type: 'string' },
      json: { type: 'boolean' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const v = values as Values;
  const [command, sub] = positionals;
  switch (command) {
    case 'push': {
      const users = list(v['users']);
      const filters = { deviceIds: list(v['devices']), platforms: list(v['platforms']) };
      if (users.length > 0) return { method: 'PushToUsers', body: { userIds: users, message: message(v), ...filters } };
      return { method: 'PushToUser', body: { userId: need(v, 'user'), message: message(v), ...filters } };
    }
    case 'broadcast':
      return { method: 'Broadcast', body: { message: message(v), platforms: list(v['platforms']) } };
    case 'kick':
      return { method: 'KickUser', body: { userId: need(v, 'user'), deviceId: typeof v['device'] === 'string' ? v['device'] : '', reason: typeof v['reason'] === 'string' ? v['reason'] : '' } };
    case 'status': {
      const users = [...list(v['users']), ...list(v['user'])];
      if (users.length === 0) throw new Usage('--users is required');
      return { method: 'GetConnectionStatus', body: { userIds: users } };
    }
    case 'rooms':
      switch (sub) {
        case 'join':
        case 'leave':
          return { method: sub === 'join' ? 'JoinRoom' : 'LeaveRoom', body: { room: need(v, 'room'), userIds: list(need(v, 'users')) } };
        case 'push':
          return { method: 'PushToRoom', body: { room: need(v, 'room'), message: message(v), excludeUserIds: list(v['exclude']), platforms: list(v['platforms']) } };
        case 'status':
          return { method: 'GetRoomStatus', body: { rooms: list(need(v, 'rooms')) } };
        default:
          throw new Usage('rooms needs join, leave, push or status');
      }
    default:
      throw new Usage(command === undefined ? 'a command is required' : `unknown command ${command}`);
  }
}

/** A short human reading of a response. */
export function describe(method: string, res: Record<string, unknown>): string {
  switch (method) {
    case 'PushToUser':
    case 'PushToUsers': {
      const off = (res['offlineUserIds'] as string[] | undefined) ?? [];
      return `delivered to ${String(res['delivered'] ?? 0)} connection(s)${off.length > 0 ? `; offline: ${off.join(', ')}` : ''}`;
    }
    case 'Broadcast':
      return `delivered to ${String(res['delivered'] ?? 0)} connection(s) on ${String(res['instances'] ?? 0)} instance(s)`;
    case 'KickUser':
      return `kicked ${String(res['kicked'] ?? 0)} connection(s)`;
    case 'GetConnectionStatus': {
      const st = (res['statuses'] as Array<Record<string, unknown>> | undefined) ?? [];
      if (st.length === 0) return 'nobody online';
      return st.map((s) => `${String(s['userId'])}\t${String(s['deviceId'])}\t${String(s['platform'])}\t${String(s['instanceId'])}\t${String(s['clientIp'])}\tsince ${new Date(Number(s['connectedAt'])).toISOString()}`).join('\n');
    }
    case 'JoinRoom':
    case 'LeaveRoom':
      return `${method === 'JoinRoom' ? 'subscribed' : 'unsubscribed'} ${String(res['connections'] ?? 0)} connection(s)`;
    case 'PushToRoom':
      return `delivered to ${String(res['delivered'] ?? 0)} connection(s) on ${String(res['instances'] ?? 0)} instance(s)`;
    case 'GetRoomStatus':
      return ((res['rooms'] as Array<Record<string, unknown>> | undefined) ?? []).map((r) => `${String(r['room'])}\tmembers ${String(r['members'] ?? 0)}\tconnections ${String(r['connections'] ?? 0)}`).join('\n');
    default:
      return JSON.stringify(res);
  }
}

async function viaHttp(url: string, method: string, body: unknown, token: string, timeoutMs: number): Promise<{ ok: boolean; res: Record<string, unknown> }> {
  const r = await fetch(`${url.replace(/\/$/, '')}/im.gateway.v1.IMAGatewayService/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token !== '' ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { ok: r.ok, res: (await r.json()) as Record<string, unknown> };
}

function viaGrpc(address: string, method: string, body: Record<string, unknown>, token: string, timeoutMs: number): Promise<{ ok: boolean; res: Record<string, unknown> }> {
  const Ctor = loadProto().grpcType.im.gateway.v1.IMAGatewayService;
  const client = new Ctor(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: unknown) => void) => void>;
  const md = new grpc.Metadata();
  if (token !== '') md.set('authorization', `Bearer ${token}`);
  // proto3 JSON payloads are base64; grpc-js takes bytes
  const req = JSON.parse(JSON.stringify(body), (k, v: unknown) => (k === 'payload' && typeof v === 'string' ? Buffer.from(v, 'base64') : v)) as unknown;
  return new Promise((resolve) => {
    const fn = client[method];
    if (fn === undefined) throw new Usage(`no method ${method}`);
    fn.call(client, req, md, { deadline: Date.now() + timeoutMs }, (e, r) => {
      client.close();
      if (e) resolve({ ok: false, res: { code: e.code, status: grpc.status[e.code], message: e.details } });
      else resolve({ ok: true, res: JSON.parse(JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))) as Record<string, unknown> });
    });
  });
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return argv.length === 0 ? 2 : 0;
  }
  let req: { method: string; body: Record<string, unknown> };
  try {
    req = request(argv);
  } catch (e) {
    process.stderr.write(`cli: ${e instanceof Error ? e.message : String(e)}\n(npm run cli -- --help)\n`);
    return 2;
  }
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  };
  const json = argv.includes('--json');
  const timeoutMs = Number(flag('timeout') ?? 10_000);
  const token = process.env['IMA_API_TOKEN'] ?? '';
  const grpcAddress = flag('grpc');
  let out: { ok: boolean; res: Record<string, unknown> };
  try {
    out = grpcAddress !== undefined ? await viaGrpc(grpcAddress, req.method, req.body, token, timeoutMs) : await viaHttp(flag('url') ?? 'http://127.0.0.1:8081', req.method, req.body, token, timeoutMs);
  } catch (e) {
    process.stderr.write(`cli: the gateway could not be reached: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  if (json) process.stdout.write(`${JSON.stringify(out.res)}\n`);
  else if (out.ok) process.stdout.write(`${describe(req.method, out.res)}\n`);
  else process.stderr.write(`${req.method} failed: ${String(out.res['status'] ?? out.res['code'])}: ${String(out.res['message'] ?? '')}\n`);
  return out.ok ? 0 : 1;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
