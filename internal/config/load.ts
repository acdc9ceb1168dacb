import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import type { Result } from '../../pkg/result';
import { err, ok } from '../../pkg/result';
import { isField, schema } from './schema';
import type { Config, Field, Section } from './schema';

/** The YAML files read from the config directory and from its profile overlay, in this order. */
export const CONFIG_FILES = ['app.yml', 'websocket.yml', 'server.yml', 'client.yml', 'redis.yml'] as const;

/** The HS256 secret used by the dev profile when none is configured (never in prod). */
export const DEV_JWT_SECRET = 'ima-dev-secret-do-not-use-in-production';

/** One wrong value: where it came from, the key, what was expected. */
export interface ConfigIssue {
  readonly source: string;
  readonly key: string;
  readonly message: string;
}

export function formatIssue(i: ConfigIssue): string {
  return `${i.source}: ${i.key}: ${i.message}`;
}

export interface LoadedConfig {
  readonly config: Config;
  readonly appEnv: string;
  readonly configDir: string;
  /** Where each key's value came from: 'default', a file path or 'env NAME'. */
  readonly sources: ReadonlyMap<string, string>;
  readonly warnings: readonly string[];
}

export interface LoadOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

const APP_ENV_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/**
 * Loads and validates the configuration: embedded defaults, then the YAML files of
 * `IMA_CONFIG_DIR` (default `config`), then `<dir>/<APP_ENV>/`, then environment variables.
 * Every issue is collected (not only the first), each naming its file or variable and key.
 */
export function loadConfig(opts: LoadOptions): Result<LoadedConfig, readonly ConfigIssue[]> {
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];
  const env = opts.env;

  const appEnv = env['APP_ENV'] ?? 'dev';
  if (!APP_ENV_RE.test(appEnv)) {
    issues.push({ source: 'env APP_ENV', key: 'APP_ENV', message: `expected a profile name of a-z 0-9 _ - (e.g. dev, prod), got ${JSON.stringify(appEnv)}` });
  }
  const explicitDir = env['IMA_CONFIG_DIR'];
  const configDir = path.resolve(opts.cwd, explicitDir ?? 'config');
  const values = new Map<string, unknown>();
  const sources = new Map<string, string>();
  collectDefaults(schema, '', values, sources);

  if (!isDirectory(configDir)) {
    if (explicitDir !== undefined) {
      issues.push({ source: 'env IMA_CONFIG_DIR', key: 'IMA_CONFIG_DIR', message: `expected a directory, ${configDir} does not exist` });
    } else {
      warnings.push(`no config directory at ${configDir}: using embedded defaults`);
    }
  } else {
    readLayer(configDir, opts.cwd, values, sources, issues);
    if (APP_ENV_RE.test(appEnv)) {
      const overlay = path.join(configDir, appEnv);
      if (isDirectory(overlay)) readLayer(overlay, opts.cwd, values, sources, issues);
      else if (appEnv !== 'dev') warnings.push(`no profile overlay at ${overlay}`);
    }
  }
  applyEnv(schema, '', env, values, sources, issues);

  if (issues.length > 0) return err(issues);
  const config = build(schema, '', values) as Config;
  const profileIssues = checkProfile(config, appEnv, sources, warnings);
  if (profileIssues.length > 0) return err(profileIssues);
  return ok({ config: applyProfileDefaults(config, appEnv, warnings), appEnv, configDir, sources, warnings });
}

/** Cross-key rules that depend on the profile. */
function checkProfile(config: Config, appEnv: string, sources: ReadonlyMap<string, string>, warnings: string[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const provider = resolveAuthProvider(config);
  if (appEnv !== 'dev' && provider === 'jwt' && config.auth.jwt.secret === '' && config.auth.jwt.publicKeyFile === '') {
    issues.push({
      source: sources.get('auth.jwt.secret') ?? 'default',
      key: 'auth.jwt.secret',
      message: `expected IMA_JWT_SECRET or auth.jwt.publicKeyFile: only the dev profile has a dev secret (APP_ENV=${appEnv})`,
    });
  }
  if (appEnv === 'prod') {
    // SPEC.md section 6: the prod profile refuses to start with an open push API.
    const mtls = config.server.tlsCertFile !== '' && config.server.tlsCaFile !== '' && config.server.tlsRequireClientCert;
    if (config.server.apiToken === '' && !mtls) {
      issues.push({
        source: sources.get('server.apiToken') ?? 'default',
        key: 'server.apiToken',
        message: 'expected IMA_API_TOKEN (or mTLS: server.tlsCertFile, tlsKeyFile, tlsCaFile, tlsRequireClientCert): the prod profile refuses to start with an open push API',
      });
    }
  }
  if (provider === 'muc' && config.client.muc.address === '' && config.nacos.address === '') {
    issues.push({
      source: sources.get('auth.provider') ?? 'default',
      key: 'auth.provider',
      message: 'expected client.muc.address (IMA_MUC_ADDR) or nacos.address (IMA_NACOS_ADDR) for the muc provider',
    });
  }
  if (config.websocket.rateLimit.burst < config.websocket.rateLimit.perSecond) {
    warnings.push('websocket.rateLimit.burst is below perSecond: bursts are capped at the burst value');
  }
  if (config.forward.maxPayloadBytes > config.websocket.maxPayloadBytes) {
    warnings.push('forward.maxPayloadBytes is above websocket.maxPayloadBytes: frames hit 1009 first');
  }
  if (config.redis.leaseRefreshSec * 2 > config.redis.leaseTtlSec) {
    issues.push({ source: sources.get('redis.leaseRefreshSec') ?? 'default', key: 'redis.leaseRefreshSec', message: `expected at most half of redis.leaseTtlSec (${config.redis.leaseTtlSec})` });
  }
  if (config.redis.pubsubIngress && config.redis.url === '') {
    issues.push({ source: sources.get('redis.pubsubIngress') ?? 'default', key: 'redis.pubsubIngress', message: 'expected redis.url (IMA_REDIS_URL) to be set: the ingress subscribes to Redis channels' });
  }
  const tls = config.server;
  if ((tls.tlsCertFile === '') !== (tls.tlsKeyFile === '')) {
    issues.push({ source: sources.get('server.tlsCertFile') ?? 'default', key: 'server.tlsCertFile', message: 'expected both server.tlsCertFile and server.tlsKeyFile, or neither' });
  }
  if (tls.tlsRequireClientCert && (tls.tlsCaFile === '' || tls.tlsCertFile === '')) {
    issues.push({ source: sources.get('server.tlsRequireClientCert') ?? 'default', key: 'server.tlsRequireClientCert', message: 'expected server.tlsCaFile and a server certificate for mTLS' });
  }
  for (const key of ['tlsCertFile', 'tlsKeyFile', 'tlsCaFile'] as const) {
    if (tls[key] !== '' && !isFile(tls[key])) {
      issues.push({ source: sources.get(`server.${key}`) ?? 'default', key: `server.${key}`, message: `expected a readable PEM file, ${tls[key]} does not exist` });
    }
  }
  const wsTls = config.websocket;
  if ((wsTls.tlsCertFile === '') !== (wsTls.tlsKeyFile === '')) {
    const [set, missing] = wsTls.tlsCertFile !== '' ? (['tlsCertFile', 'tlsKeyFile'] as const) : (['tlsKeyFile', 'tlsCertFile'] as const);
    issues.push({
      source: sources.get(`websocket.${set}`) ?? 'default',
      key: `websocket.${missing}`,
      message: `expected both websocket.tlsCertFile and websocket.tlsKeyFile, or neither: websocket.${set} is set, websocket.${missing} is not`,
    });
  }
  for (const key of ['tlsCertFile', 'tlsKeyFile'] as const) {
    if (wsTls[key] !== '' && !isFile(wsTls[key])) {
      issues.push({ source: sources.get(`websocket.${key}`) ?? 'default', key: `websocket.${key}`, message: `expected a readable PEM file, ${wsTls[key]} does not exist` });
    }
  }
  if (config.auth.jwt.publicKeyFile !== '' && !isFile(config.auth.jwt.publicKeyFile)) {
    issues.push({
      source: sources.get('auth.jwt.publicKeyFile') ?? 'default',
      key: 'auth.jwt.publicKeyFile',
      message: `expected a readable PEM file, ${config.auth.jwt.publicKeyFile} does not exist`,
    });
  }
  return issues;
}

function applyProfileDefaults(config: Config, appEnv: string, warnings: string[]): Config {
  if (resolveAuthProvider(config) === 'jwt' && config.auth.jwt.secret === '' && config.auth.jwt.publicKeyFile === '' && appEnv === 'dev') {
    warnings.push(`auth.jwt.secret is empty: the ${appEnv} profile uses the fixed dev secret; never use it in production`);
    return { ...config, auth: { ...config.auth, jwt: { ...config.auth.jwt, secret: DEV_JWT_SECRET } } };
  }
  return config;
}

/** `auto` resolves to `muc` when an MUC address or a Nacos registry is configured, else `jwt`. */
export function resolveAuthProvider(config: Config): 'muc' | 'jwt' {
  const p = config.auth.provider;
  switch (p) {
    case 'muc':
    case 'jwt':
      return p;
    case 'auto':
      return config.client.muc.address !== '' || config.nacos.address !== '' ? 'muc' : 'jwt';
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function collectDefaults(section: Section, prefix: string, values: Map<string, unknown>, sources: Map<string, string>): void {
  for (const [key, node] of Object.entries(section)) {
    const full = prefix + key;
    if (isField(node)) {
      values.set(full, node.default);
      sources.set(full, 'default');
    } else {
      collectDefaults(node, `${full}.`, values, sources);
    }
  }
}

function readLayer(dir: string, cwd: string, values: Map<string, unknown>, sources: Map<string, string>, issues: ConfigIssue[]): void {
  for (const name of CONFIG_FILES) {
    const file = path.join(dir, name);
    if (!isFile(file)) continue;
    const shown = path.relative(cwd, file) || file;
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      issues.push({ source: shown, key: '(file)', message: `cannot be read: ${(e as Error).message}` });
      continue;
    }
    let data: unknown;
    let texts: unknown;
    try {
      const doc = parseDocument(text, { uniqueKeys: true });
      if (doc.errors.length > 0) {
        for (const e of doc.errors) issues.push({ source: shown, key: '(yaml)', message: `invalid YAML: ${e.message.split('\n')[0] ?? ''}` });
        continue;
      }
      data = doc.toJS();
      // The same text with every scalar as a string: a string key keeps what was written
      // (`version: 1.0` is "1.0" and `secret: 0012` is "0012", not the numbers 1 and 12).
      texts = parseDocument(text, { schema: 'failsafe' }).toJS();
    } catch (e) {
      // toJS throws on an alias to no anchor and on an alias bomb (more aliases than maxAliasCount)
      issues.push({ source: shown, key: '(yaml)', message: `invalid YAML: ${(e instanceof Error ? e.message : String(e)).split('\n')[0] ?? ''}` });
      continue;
    }
    if (data === null || data === undefined) continue; // empty file
    if (!isPlainObject(data)) {
      issues.push({ source: shown, key: '(root)', message: 'expected a mapping of sections (app:, websocket:, ...)' });
      continue;
    }
    mergeObject(schema, '', data, texts, shown, values, sources, issues);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mergeObject(
  section: Section,
  prefix: string,
  data: Record<string, unknown>,
  texts: unknown,
  source: string,
  values: Map<string, unknown>,
  sources: Map<string, string>,
  issues: ConfigIssue[],
): void {
  for (const [key, raw] of Object.entries(data)) {
    const full = prefix + key;
    const node = Object.prototype.hasOwnProperty.call(section, key) ? section[key] : undefined;
    if (node === undefined) {
      const known = Object.keys(section).join(', ');
      issues.push({ source, key: full, message: `unknown key (expected one of: ${known})` });
      continue;
    }
    const rawText = isPlainObject(texts) ? texts[key] : undefined;
    if (isField(node)) {
      const r = coerce(node, node.kind === 'string' && (typeof raw === 'number' || typeof raw === 'boolean') && typeof rawText === 'string' ? rawText : raw, false);
      if (r.ok) {
        values.set(full, r.value);
        sources.set(full, source);
      } else {
        issues.push({ source, key: full, message: r.error });
      }
    } else if (raw === null) {
      continue; // an empty section
    } else if (isPlainObject(raw)) {
      mergeObject(node, `${full}.`, raw, rawText, source, values, sources, issues);
    } else {
      issues.push({ source, key: full, message: `expected a section (mapping), got ${describe(raw)}` });
    }
  }
}

function applyEnv(section: Section, prefix: string, env: NodeJS.ProcessEnv, values: Map<string, unknown>, sources: Map<string, string>, issues: ConfigIssue[]): void {
  for (const [key, node] of Object.entries(section)) {
    const full = prefix + key;
    if (!isField(node)) {
      applyEnv(node, `${full}.`, env, values, sources, issues);
      continue;
    }
    if (node.env === undefined) continue;
    const raw = env[node.env];
    if (raw === undefined) continue;
    const r = coerce(node, raw, true);
    if (r.ok) {
      values.set(full, r.value);
      sources.set(full, `env ${node.env}`);
    } else {
      issues.push({ source: `env ${node.env}`, key: full, message: r.error });
    }
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}...` : v);
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

/** What a field expects, in words, for error messages. */
export function expectation(f: Field): string {
  switch (f.kind) {
    case 'int':
      return `an integer from ${f.min} to ${f.max}`;
    case 'string':
      return f.patternDoc !== undefined ? `a string (${f.patternDoc})` : 'a string';
    case 'bool':
      return 'true or false';
    case 'enum':
      return `one of ${f.values.join(', ')}`;
    case 'list':
      return f.values !== undefined ? `a list of ${f.values.join(', ')}` : 'a list of strings';
  }
}

/** Checks one value; from env, everything is a string and is parsed first. */
function coerce(f: Field, raw: unknown, fromEnv: boolean): Result<unknown, string> {
  const fail = (): Result<unknown, string> => err(`expected ${expectation(f)}, got ${describe(raw)}`);
  switch (f.kind) {
    case 'int': {
      let n: unknown = raw;
      if (typeof raw === 'string') n = /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < f.min || n > f.max) return fail();
      return ok(n);
    }
    case 'string': {
      let s: unknown = raw;
      if (!fromEnv && (typeof raw === 'number' || typeof raw === 'boolean')) s = String(raw);
      if (typeof s !== 'string') return fail();
      if (s === '' && f.nonEmpty === true) return fail();
      if (s !== '' && f.pattern !== undefined && !f.pattern.test(s)) return fail();
      return ok(s);
    }
    case 'bool': {
      if (typeof raw === 'boolean') return ok(raw);
      if (typeof raw === 'string') {
        const v = raw.trim().toLowerCase();
        if (v === 'true' || v === '1' || v === 'yes') return ok(true);
        if (v === 'false' || v === '0' || v === 'no') return ok(false);
      }
      return fail();
    }
    case 'enum': {
      if (typeof raw !== 'string' || !f.values.includes(raw)) return fail();
      return ok(raw);
    }
    case 'list': {
      let items: unknown = raw;
      if (typeof raw === 'string') items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
      if (!Array.isArray(items) || !items.every((i): i is string => typeof i === 'string')) return fail();
      if (f.values !== undefined && !items.every((i) => f.values?.includes(i))) return fail();
      return ok(Object.freeze([...items]));
    }
  }
}

function build(section: Section, prefix: string, values: ReadonlyMap<string, unknown>): unknown {
  const out: Record<string, unknown> = {};
  for (const [key, node] of Object.entries(section)) {
    const full = prefix + key;
    out[key] = isField(node) ? values.get(full) : build(node, `${full}.`, values);
  }
  return Object.freeze(out);
}

/** The effective configuration with secrets masked, for logs and `/stats`. */
export function redactedConfig(config: Config): unknown {
  return redact(schema, config as unknown as Record<string, unknown>);
}

function redact(section: Section, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, node] of Object.entries(section)) {
    const v = value[key];
    if (isField(node)) out[key] = node.secret === true && v !== '' ? '***' : v;
    else out[key] = redact(node, v as Record<string, unknown>);
  }
  return out;
}

/** Every key with its type, default, env variable and doc: the README's configuration table. */
export function describeSchema(): Array<{ key: string; type: string; default: string; env: string; doc: string }> {
  const rows: Array<{ key: string; type: string; default: string; env: string; doc: string }> = [];
  const walk = (section: Section, prefix: string): void => {
    for (const [key, node] of Object.entries(section)) {
      if (isField(node)) {
        const d = node.default;
        rows.push({
          key: prefix + key,
          type: expectation(node),
          default: Array.isArray(d) ? d.join(',') : String(d),
          env: node.env ?? '',
          doc: node.doc,
        });
      } else {
        walk(node, `${prefix}${key}.`);
      }
    }
  };
  walk(schema, '');
  return rows;
}
