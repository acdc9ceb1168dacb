/** The README's configuration table is generated from the schema; this keeps it current. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './support/gateway-process';

test('the README configuration table matches the schema', () => {
  const root = repoRoot();
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const m = /<!-- config-table:start -->\n([\s\S]*?)<!-- config-table:end -->/.exec(readme);
  assert.ok(m, 'README has the config-table markers');
  const table = execFileSync(process.execPath, [path.join(root, 'dist/scripts/config-table.js')], { encoding: 'utf8' });
  assert.equal(m[1], table, 'regenerate with: node dist/scripts/config-table.js');
});

test('the README opens with the run and test commands', () => {
  const readme = fs.readFileSync(path.join(repoRoot(), 'README.md'), 'utf8');
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  assert.match(firstBlock, /npm ci && npm run build && npm start/);
  assert.match(firstBlock, /npm ci && npm test/);
});
