/**
 * The MUC token service of the reconnect storm (issue 16): the test MUC gRPC service
 * (test/support/test-services.ts) accepting any token `<prefix><user>` for that user, counting the
 * ValidateToken calls it answers in total and per distinct token (IPC `stats`), so the bench can
 * check that the gateway's token cache absorbs reconnects (at most one MUC call per token).
 */
import { TestMucService } from '../../test/support/test-services';
import { emit, serveIpc } from './common';

const port = Number(process.env['BENCH_PORT']);
const prefix = process.env['BENCH_TOKEN_PREFIX'] ?? 'mucb-';
const perToken = new Map<string, number>();
let calls = 0;

void TestMucService.start(port, '127.0.0.1').then(
  (muc) => {
    muc.resolveToken = (token) => (token.startsWith(prefix) && token.length > prefix.length ? { userId: token.slice(prefix.length), expireAt: 0 } : undefined);
    muc.events.on('call', (req: { token: string }) => {
      calls++;
      perToken.set(req.token, (perToken.get(req.token) ?? 0) + 1);
      // the service keeps every request; the counts above are all the bench needs
      if (muc.calls.length > 1000) muc.reset();
    });
    serveIpc({
      stats: () => {
        let max = 0;
        for (const v of perToken.values()) max = Math.max(max, v);
        return { calls, distinctTokens: perToken.size, maxCallsPerToken: max };
      },
    });
    emit('ready', { port });
  },
  (e: unknown) => {
    process.stderr.write(`bench: MUC test service cannot listen on ${port}: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
