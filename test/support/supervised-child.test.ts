/**
 * The shared child-process supervision (used by gateway-process.ts and the benchmark's
 * supervisor): output lines, waiting for a line, bounded stops, kill-all.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { forkSupervised, killAllSupervisedSync, spawnSupervised } from './supervised-child';

const node = (code: string, name = 'child', maxLines?: number) =>
  spawnSupervised(name, process.execPath, ['-e', code], {}, maxLines === undefined ? {} : { maxLines });

test('supervised child: lines of stdout and stderr, waitForLine, stop with SIGTERM', async () => {
  const c = node('console.log("out-1"); console.error("err-1"); setInterval(() => {}, 1000);');
  assert.equal(await c.waitForLine(/err-1/, 10_000), 'err-1');
  assert.equal(await c.waitForLine(/out-1/, 10_000), 'out-1');
  assert.deepEqual([...c.logs].sort(), ['err-1', 'out-1']);
  const exit = await c.stop('SIGTERM', 10_000);
  assert.deepEqual(exit, { code: null, signal: 'SIGTERM' });
  assert.deepEqual(c.exitInfo(), exit);
  // stopping again answers the same exit
  assert.deepEqual(await c.stop(), exit);
});

test('supervised child: SIGKILL after the grace period when the signal is ignored', async () => {
  const c = node('process.on("SIGTERM", () => console.log("ignored")); console.log("ready"); setInterval(() => {}, 1000);');
  await c.waitForLine(/ready/, 10_000);
  const t0 = Date.now();
  const exit = await c.stop('SIGTERM', 300, 5_000);
  assert.equal(exit?.signal, 'SIGKILL');
  assert.ok(Date.now() - t0 < 5_000);
});

test('supervised child: waitForLine fails on exit and on timeout, naming the process', async () => {
  const quiet = node('setInterval(() => {}, 1000);', 'quiet');
  await assert.rejects(quiet.waitForLine(/never/, 100), /timed out after 100 ms waiting for a quiet log line matching \/never\//);
  await quiet.stop('SIGKILL', 5_000);
  const short = node('console.log("bye")', 'short');
  await assert.rejects(short.waitForLine(/never/, 10_000, 0, 'gateway'), /gateway exited \(\{"code":0,"signal":null\}\) before logging \/never\/; logs:\nbye/);
  // a line already seen is found after the exit too
  assert.equal(await short.waitForLine(/bye/, 100), 'bye');
});

test('supervised child: maxLines keeps the last lines; tail notes the earlier ones', async () => {
  const c = node('for (let i = 0; i < 50; i++) console.log("line " + i);', 'many', 10);
  await c.exited;
  assert.equal(c.logs.length, 10);
  assert.equal(c.logs[9], 'line 49');
  assert.equal(c.tail(3), '…(7 earlier lines)\nline 47\nline 48\nline 49');
});

test('supervised child: fork with IPC, and killAllSupervisedSync kills every child still running', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'supervised-child-'));
  const script = path.join(dir, 'child.js');
  fs.writeFileSync(script, 'process.send({ hello: 1 }); setInterval(() => {}, 1000);\n');
  try {
    const a = node('setInterval(() => {}, 1000); console.log("a");', 'a');
    const b = forkSupervised('b', script, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const hello = new Promise<unknown>((resolve) => b.child.once('message', resolve));
    await a.waitForLine(/a/, 10_000);
    assert.deepEqual(await hello, { hello: 1 });
    killAllSupervisedSync();
    assert.equal((await a.exited).signal, 'SIGKILL');
    assert.equal((await b.exited).signal, 'SIGKILL');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
