/**
 * Starts the gRPC test services (MUC, business, optionally server push) for manual runs and
 * benchmarks:
 *
 *   node dist/scripts/test-services.js --muc-port 20061 --business-port 20062 [--push-port 20063]
 *     [--host 127.0.0.1] [--token TOKEN=USER[:EXPIRE_AT_MS] ...] [--accept-prefix PREFIX]
 *     [--muc-delay-ms N] [--business-delay-ms N] [--echo] [--verbose]
 *
 * Prints one JSON line with the addresses ({"muc":"host:port","business":...,"push":...}) and
 * stops cleanly on SIGTERM/SIGINT. A port of 0 (the default) picks a free one.
 *
 * --accept-prefix P: any token starting with P is valid, for user id = the rest of the token
 *   (token "P-u42" with prefix "P-" → user "u42"); handy for benchmarks with many users.
 * --echo: HandleMessage replies with one message of type "<type>.echo" carrying the payload.
 * --verbose: one JSON line on stderr per received message, status and heartbeat.
 */
import { TestBusinessService, TestMucService, TestServerPushService } from '../test/support/test-services';

interface Options {
  host: string;
  mucPort: number;
  businessPort: number;
  pushPort: number | undefined;
  tokens: { token: string; userId: string; expireAt: number }[];
  acceptPrefix: string | undefined;
  mucDelayMs: number;
  businessDelayMs: number;
  echo: boolean;
  verbose: boolean;
}

const USAGE =
  'usage: test-services [--muc-port N] [--business-port N] [--push-port N] [--host H] ' +
  '[--token TOKEN=USER[:EXPIRE_AT_MS]]... [--accept-prefix P] [--muc-delay-ms N] [--business-delay-ms N] [--echo] [--verbose]';

function fail(msg: string): never {
  process.stderr.write(`test-services: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    host: '127.0.0.1',
    mucPort: 0,
    businessPort: 0,
    pushPort: undefined,
    tokens: [],
    acceptPrefix: undefined,
    mucDelayMs: 0,
    businessDelayMs: 0,
    echo: false,
    verbose: false,
  };
  const int = (flag: string, v: string | undefined): number => {
    if (v === undefined || !/^\d+$/.test(v)) fail(`${flag} expects a non-negative integer, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    // "--flag value" or "--flag=value" ("--token=T=U" is token T for user U)
    const [flag, inline] = arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--muc-port':
        o.mucPort = int(flag, value());
        break;
      case '--business-port':
        o.businessPort = int(flag, value());
        break;
      case '--push-port':
        o.pushPort = int(flag, value());
        break;
      case '--host':
        o.host = value() ?? fail('--host expects a host');
        break;
      case '--token': {
        const v = value();
        const m = v === undefined ? null : /^([^=]+)=([^:]+)(?::(\d+))?$/.exec(v);
        if (!m) fail(`--token expects TOKEN=USER[:EXPIRE_AT_MS], got ${JSON.stringify(v)}`);
        o.tokens.push({ token: m[1] as string, userId: m[2] as string, expireAt: m[3] ? Number(m[3]) : 0 });
        break;
      }
      case '--accept-prefix':
        o.acceptPrefix = value() ?? fail('--accept-prefix expects a prefix');
        break;
      case '--muc-delay-ms':
        o.mucDelayMs = int(flag, value());
        break;
      case '--business-delay-ms':
        o.businessDelayMs = int(flag, value());
        break;
      case '--echo':
        o.echo = true;
        break;
      case '--verbose':
        o.verbose = true;
        break;
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        fail(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  return o;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const log = (obj: Record<string, unknown>): void => {
    if (o.verbose) process.stderr.write(`${JSON.stringify({ ts: Date.now(), ...obj })}\n`);
  };

  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(started.map((s) => s.stop().catch(() => undefined)));
  };

  try {
    const muc = await TestMucService.start(o.mucPort, o.host);
    started.push(muc);
    muc.delayMs = o.mucDelayMs;
    for (const t of o.tokens) muc.addToken(t.token, t.userId, { expireAt: t.expireAt });
    const prefix = o.acceptPrefix;
    if (prefix !== undefined) {
      muc.resolveToken = (token) =>
        token.startsWith(prefix) && token.length > prefix.length ? { userId: token.slice(prefix.length), expireAt: 0 } : undefined;
    }
    // Keep the records from growing without bound during long benchmarks.
    muc.events.on('call', (req: { deviceId: string; platform: string }) => {
      log({ service: 'muc', event: 'ValidateToken', deviceId: req.deviceId, platform: req.platform });
      if (muc.calls.length > 10_000) muc.reset();
    });

    const business = await TestBusinessService.start(o.businessPort, o.host);
    started.push(business);
    business.delayMs = o.businessDelayMs;
    if (o.echo) {
      business.handler = (msg) => ({
        code: 0,
        message: 'ok',
        replies: [{ messageId: `echo-${msg.messageId}`, type: `${msg.type}.echo`, payload: msg.payload, timestamp: Date.now(), replyTo: msg.messageId }],
      });
    }
    business.events.on('message', (m: { messageId: string; type: string; userId: string; deviceId: string }) => {
      log({ service: 'business', event: 'HandleMessage', id: m.messageId, type: m.type, userId: m.userId, deviceId: m.deviceId });
      if (business.messages.length > 10_000) business.reset();
    });
    business.events.on('status', (s: unknown) => log({ service: 'business', event: 'OnConnectionStatus', status: s }));

    const out: Record<string, string> = { muc: muc.address, business: business.address };
    if (o.pushPort !== undefined) {
      const push = await TestServerPushService.start(o.pushPort, o.host);
      started.push(push);
      push.events.on('heartbeat', (hb: unknown) => {
        log({ service: 'push', event: 'Heartbeat', heartbeat: hb });
        if (push.heartbeats.length > 10_000) push.reset();
      });
      out.push = push.address;
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } catch (err) {
    await stopAll();
    process.stderr.write(`test-services: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }

  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log({ event: 'stopping', signal: sig });
    void stopAll().then(() => process.exit(0));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

void main();
