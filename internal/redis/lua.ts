import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Lua scripts are files (`<module folder>/lua/<name>.lua`), read once when the module using them
 * loads. The compiled module (dist/internal/<folder>/) finds them in the source tree it was built
 * from (internal/<folder>/lua/), so the build copies nothing.
 */
function luaDir(moduleDir: string, probe: string): string {
  const folder = path.basename(moduleDir);
  const candidates = [path.join(moduleDir, 'lua'), path.resolve(moduleDir, '..', '..', '..', 'internal', folder, 'lua')];
  for (const dir of candidates) if (fs.existsSync(path.join(dir, `${probe}.lua`))) return dir;
  throw new Error(`Lua scripts of ${folder}/ not found (looked in ${candidates.join(', ')})`);
}

/**
 * A reader of the Lua files beside `moduleDir` (pass the module's `__dirname`). `read(name)` is the
 * text of `lua/<name>.lua` with its leading `--` comment lines removed (they document the file,
 * not the script).
 */
export function luaFiles(moduleDir: string): (name: string) => string {
  let dir: string | undefined;
  return (name) => {
    dir ??= luaDir(moduleDir, name);
    const lines = fs.readFileSync(path.join(dir, `${name}.lua`), 'utf8').split('\n');
    let i = 0;
    while (i < lines.length && (lines[i] ?? '').startsWith('--')) i++;
    return lines.slice(i).join('\n');
  };
}

/**
 * Defines each script on the client under its name (one key per script). Local definitions only,
 * no I/O: ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT.
 */
export function defineScripts(
  client: { defineCommand(name: string, def: { lua: string; numberOfKeys: number }): void },
  scripts: Readonly<Record<string, string | { readonly lua: string; readonly keys: number }>>,
): void {
  for (const [name, s] of Object.entries(scripts)) client.defineCommand(name, typeof s === 'string' ? { lua: s, numberOfKeys: 1 } : { lua: s.lua, numberOfKeys: s.keys });
}

type ScriptFn = (...keysThenArgs: string[]) => Promise<unknown>;

/**
 * Runs a script defined on the client with `defineCommand` (EVALSHA, falling back to EVAL on
 * NOSCRIPT). Rejects when no such command was defined.
 */
export function runScript(client: object, name: string, key: string, ...args: string[]): Promise<unknown> {
  const fn = (client as Record<string, ScriptFn | undefined>)[name];
  if (typeof fn !== 'function') return Promise.reject(new Error(`redis script ${name} is not defined`));
  return fn.call(client, key, ...args);
}

/** A script's array reply as strings (numbers come back as numbers from Lua). */
export function asStrings(reply: unknown, what: string): string[] {
  if (!Array.isArray(reply)) throw new Error(`${what}: unexpected Redis reply ${JSON.stringify(reply)}`);
  return reply.map((x) => (typeof x === 'string' ? x : String(x)));
}
