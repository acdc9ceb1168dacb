/**
 * The generated TypeScript types under api/gen/ are committed; this fails when they no longer
 * match api/im_gateway.proto (run `npm run proto:gen` and commit the result).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './support/gateway-process';

function listFiles(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p, base));
    else out.push(path.relative(base, p));
  }
  return out.sort();
}

test('api/gen is what proto-loader-gen-types makes from api/im_gateway.proto today', () => {
  const root = repoRoot();
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const script = pkg.scripts['proto:gen'];
  assert.ok(script, 'package.json has a proto:gen script');
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-proto-gen-'));
  try {
    const args = script.split(/\s+/).slice(1).map((a) => (a.startsWith('--outDir=') ? `--outDir=${out}` : a));
    execFileSync(path.join(root, 'node_modules/.bin/proto-loader-gen-types'), args, { cwd: root, stdio: 'pipe' });
    const committed = path.join(root, 'api/gen');
    const want = listFiles(out);
    assert.deepEqual(listFiles(committed), want, 'the same generated files');
    assert.ok(want.length > 20, 'every message and service is generated');
    for (const f of want) {
      assert.equal(fs.readFileSync(path.join(committed, f), 'utf8'), fs.readFileSync(path.join(out, f), 'utf8'), `api/gen/${f} is stale: run npm run proto:gen`);
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('the proto keeps the binding names of SPEC.md section 3', () => {
  const text = fs.readFileSync(path.join(repoRoot(), 'api/im_gateway.proto'), 'utf8');
  assert.match(text, /^package im\.gateway\.v1;$/m);
  assert.match(text, /option java_multiple_files = true;/);
  assert.match(text, /option java_package = "im\.gateway\.v1";/);
  for (const rpc of ['PushToUser', 'PushToUsers', 'Broadcast', 'KickUser', 'GetConnectionStatus', 'ValidateToken', 'HandleMessage', 'OnConnectionStatus', 'Connect']) {
    assert.match(text, new RegExp(`rpc ${rpc}\\(`), rpc);
  }
  for (const svc of ['IMAGatewayService', 'MUCService', 'BusinessMessageService', 'ServerPushService']) assert.match(text, new RegExp(`service ${svc} \\{`));
});
