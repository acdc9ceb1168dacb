import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The directory of the presence store's Lua scripts: beside this module in the source tree. The
 * compiled module (dist/internal/presence/) finds them in the source tree it was built from.
 */
function luaDir(): string {
  const candidates = [path.join(__dirname, 'lua'), path.resolve(__dirname, '..', '..', '..', 'internal', 'presence', 'lua')];
  for (const dir of candidates) if (fs.existsSync(path.join(dir, 'register.lua'))) return dir;
  throw new Error(`presence Lua scripts not found (looked in ${candidates.join(', ')})`);
}

let dir: string | undefined;

/** The text of `lua/<name>.lua`, with its leading `--` comment lines removed (they document the file, not the script). */
export function luaFile(name: string): string {
  dir ??= luaDir();
  const text = fs.readFileSync(path.join(dir, `${name}.lua`), 'utf8');
  const lines = text.split('\n');
  let i = 0;
  while (i < lines.length && (lines[i] ?? '').startsWith('--')) i++;
  return lines.slice(i).join('\n');
}
