/**
 * Mints a token that the `jwt` provider accepts with the current configuration:
 *   npm run token -- --user U --device D --platform P [--ttl SEC] [--private-key FILE]
 * Prints only the token on stdout. HS256 with the configured secret (the dev secret in the dev
 * profile); RS256 when --private-key is given. The token binds device and platform (did, plt).
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { signJwt } from '../internal/auth/jwt';
import { formatIssue, loadConfig } from '../internal/config/load';
import { isPlatform, PLATFORMS } from '../internal/protocol/codes';

function fail(message: string): never {
  process.stderr.write(`token: ${message}\nusage: npm run token -- --user U --device D --platform P [--ttl SEC] [--private-key FILE]\n`);
  process.exit(2);
}

const HELP = `npm run token -- --user U --device D --platform P [--ttl SEC] [--private-key FILE]

Prints a token the gateway's jwt provider accepts with the current configuration (IMA_CONFIG_DIR,
APP_ENV, IMA_JWT_SECRET), bound to the device and platform (claims did, plt):
  --user U             the user id (sub)
  --device D           the device_id the connection will use
  --platform P         one of ${PLATFORMS.join(', ')}
  --ttl SEC            lifetime (default auth.jwt.defaultTtlSec)
  --private-key FILE   sign with RS256 (PEM) instead of the HS256 secret
Only the token goes to stdout (use npm run -s token to drop npm's banner).
`;

function main(): void {
  if (process.argv.slice(2).some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(HELP);
    return;
  }
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      options: {
        user: { type: 'string' },
        device: { type: 'string' },
        platform: { type: 'string' },
        ttl: { type: 'string' },
        'private-key': { type: 'string' },
      },
      strict: true,
    }).values;
  } catch (e) {
    fail((e as Error).message);
  }
  const user = values['user'];
  const device = values['device'];
  const platform = values['platform'];
  if (user === undefined || user === '') fail('--user is required');
  if (device === undefined || device === '') fail('--device is required');
  if (platform === undefined || !isPlatform(platform)) fail(`--platform must be one of ${PLATFORMS.join(', ')}`);
  const loaded = loadConfig({ env: process.env, cwd: process.cwd() });
  if (!loaded.ok) fail(`invalid configuration:\n${loaded.error.map(formatIssue).join('\n')}`);
  const jwt = loaded.value.config.auth.jwt;
  let ttl = jwt.defaultTtlSec;
  if (values['ttl'] !== undefined) {
    if (!/^\d+$/.test(values['ttl']) || Number(values['ttl']) < 1) fail('--ttl must be a positive number of seconds');
    ttl = Number(values['ttl']);
  }
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    sub: user,
    did: device,
    plt: platform,
    iat: now,
    exp: now + ttl,
    ...(jwt.issuer !== '' ? { iss: jwt.issuer } : {}),
    ...(jwt.audience !== '' ? { aud: jwt.audience } : {}),
  };
  const keyFile = values['private-key'];
  let token: string;
  if (keyFile !== undefined) {
    token = signJwt(claims, { alg: 'RS256', privateKeyPem: fs.readFileSync(keyFile, 'utf8') });
  } else {
    if (jwt.secret === '') fail('no HS256 secret configured (set IMA_JWT_SECRET) and no --private-key given');
    token = signJwt(claims, { alg: 'HS256', secret: jwt.secret });
  }
  process.stdout.write(`${token}\n`);
}

main();
