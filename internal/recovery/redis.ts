import { Cluster } from 'ioredis';
import type { RedisClient } from '../redis/client';
import type { RedisKeys } from '../redis/keys';
import { asStrings, defineScripts, luaFiles, runScript } from '../redis/lua';
import { newEpoch } from './memory';
import type { AppendItem, HistoryEntry, HistorySettings, HistoryStore, RecoverResult } from './types';

const lua = luaFiles(__dirname);
const COMMANDS = {
  imaHistoryAppend: { lua: lua('append'), keys: 3 },
  imaHistoryRecover: { lua: lua('recover'), keys: 2 },
} as const;

/**
 * The history in Redis (see redis/keys.ts): per stream a meta hash `<p>rq:{<stream>}` (epoch, last
 * seq) and a Redis stream `<p>rh:{<stream>}` capped at `historySize` entries (XADD MAXLEN), both
 * expiring `historyTtlMs` after the last push; one Lua script per push and stream (one slot).
 * A batch of appends goes out as one pipeline (in parallel per node on Redis Cluster). Redis
 * restarted without persistence loses the meta: the next push starts a new epoch at seq 1.
 */
export class RedisHistoryStore implements HistoryStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly settings: HistorySettings,
  ) {
    defineScripts(redis, COMMANDS);
  }

  private args(item: AppendItem, epoch: string): string[] {
    return [
      this.keys.historyMeta(item.stream),
      this.keys.history(item.stream),
      this.keys.historyKey(item.stream, item.key ?? ''),
      item.framePrefix,
      item.filter,
      String(this.settings.historySize),
      String(this.settings.historyTtlMs),
      item.key ?? '',
      epoch,
    ];
  }

  async append(items: readonly AppendItem[]): Promise<number[]> {
    if (items.length === 0) return [];
    const epoch = newEpoch();
    if (this.redis instanceof Cluster || items.length === 1) {
      const seqs = await Promise.all(
        items.map((it) => {
          const [meta, ...rest] = this.args(it, epoch);
          return runScript(this.redis, 'imaHistoryAppend', meta ?? '', ...rest);
        }),
      );
      return seqs.map(Number);
    }
    const pipe = this.redis.pipeline();
    for (const it of items) (pipe as unknown as Record<string, (...a: string[]) => unknown>)['imaHistoryAppend']?.(...this.args(it, epoch));
    const replies = (await pipe.exec()) ?? [];
    return replies.map(([e, v]) => {
      if (e !== null) throw e;
      return Number(v);
    });
  }

  async recover(stream: string, since: number | null, epoch: string | null): Promise<RecoverResult> {
    const reply = asStrings(
      await runScript(this.redis, 'imaHistoryRecover', this.keys.historyMeta(stream), this.keys.history(stream), since === null ? '' : String(since), epoch ?? '', String(this.settings.historyTtlMs), newEpoch()),
      'history',
    );
    const e = reply[0] ?? '';
    const lastSeq = Number(reply[1]);
    const status = reply[2];
    if (status === 'none') return { epoch: e, lastSeq, recovered: null, entries: [] };
    if (status !== 'yes' || since === null) return { epoch: e, lastSeq, recovered: false, entries: [] };
    const entries: HistoryEntry[] = [];
    for (let j = 3, seq = since + 1; j + 1 < reply.length; j += 2, seq++) entries.push({ seq, frame: reply[j] ?? '', filter: reply[j + 1] ?? '' });
    return { epoch: e, lastSeq, recovered: true, entries };
  }

  async close(): Promise<void> {
    // the client belongs to the composition root
  }
}
