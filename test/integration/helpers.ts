import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { signJwt } from '../../internal/auth/jwt';
import { repoRoot } from '../support/gateway-process';

export const TEST_JWT_SECRET = 'integration-test-secret-0123456789';

/** An HS256 token for TEST_JWT_SECRET. */
export function jwtFor(user: string, opts: { ttlSec?: number; device?: string; platform?: string } = {}): string {
  const now = Math.floor(Date.now() / 1000);
  return signJwt(
    {
      sub: user,
      iat: now,
      exp: now + (opts.ttlSec ?? 3600),
      ...(opts.device !== undefined ? { did: opts.device } : {}),
      ...(opts.platform !== undefined ? { plt: opts.platform } : {}),
    },
    { alg: 'HS256', secret: TEST_JWT_SECRET },
  );
}

/**
 * A config directory: copies of the repo's YAML files plus `overrides`, a map of file name to
 * YAML text that replaces the file. Removed by the returned cleanup.
 */
export function configDir(overrides: Record<string, string> = {}): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-config-'));
  const src = path.join(repoRoot(), 'config');
  for (const f of fs.readdirSync(src)) {
    const p = path.join(src, f);
    if (fs.statSync(p).isFile()) fs.copyFileSync(p, path.join(dir, f));
  }
  for (const [name, text] of Object.entries(overrides)) {
    const target = path.join(dir, name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, text);
  }
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Resolves when `check` returns true, re-checking on every `tick` ms; rejects after timeoutMs. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
