/**
 * Property-based fuzzing of `loadConfig`: generated YAML files (the five config files and a
 * profile overlay) written to a temp directory, and generated environment maps with hostile
 * IMA_* values. Whatever the input (broken YAML, invalid UTF-8, anchors and alias bombs, tags,
 * deep nesting, prototype keys at every level, edge numbers, wrong types, duplicated keys), the
 * loader returns either a configuration that obeys the schema or a non-empty list of issues, each
 * with a message; it never throws and never pollutes a prototype. No fixed seed; few runs, as
 * every run touches the filesystem.
 */
import { after, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import type { Result } from '../../pkg/result';
import { CONFIG_FILES, loadConfig } from './load';
import type { ConfigIssue, LoadedConfig } from './load';
import { isField, schema } from './schema';
import type { Field, Section } from './schema';
import { assertNoPrototypePollution } from '../../test/support/pollution';

// The failing assertion goes into fast-check's report (node:test does not print an error's cause).
fc.configureGlobal({ ...fc.readConfigureGlobal(), includeErrorInReport: true });

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-config-fuzz-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let runs = 0;

type Files = Readonly<Record<string, Uint8Array>>;

/** A fresh cwd holding `files` (paths relative to it). */
function cwdWith(files: Files): string {
  const dir = path.join(root, String(runs++));
  fs.mkdirSync(dir);
  for (const [rel, bytes] of Object.entries(files)) {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, bytes);
  }
  return dir;
}

function load(files: Files, env: NodeJS.ProcessEnv): Result<LoadedConfig, readonly ConfigIssue[]> {
  const cwd = cwdWith(files);
  try {
    return loadConfig({ env, cwd });
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

// ----- the schema, flattened -------------------------------------------------------------------

interface Leaf {
  readonly key: string;
  readonly path: readonly string[];
  readonly field: Field;
}
const LEAVES: readonly Leaf[] = (() => {
  const out: Leaf[] = [];
  const walk = (s: Section, p: readonly string[]): void => {
    for (const [k, node] of Object.entries(s)) {
      if (isField(node)) out.push({ key: [...p, k].join('.'), path: [...p, k], field: node });
      else walk(node, [...p, k]);
    }
  };
  walk(schema, []);
  return out;
})();
const ENV_LEAVES = LEAVES.filter((l) => l.field.env !== undefined);

/** A value obeys its field: the kind, the range, the pattern, the allowed items. */
function assertFieldValue(f: Field, v: unknown, key: string): void {
  switch (f.kind) {
    case 'int':
      assert.ok(typeof v === 'number' && Number.isInteger(v) && v >= f.min && v <= f.max, `${key}: ${String(v)}`);
      return;
    case 'string':
      assert.equal(typeof v, 'string', key);
      if (f.nonEmpty === true) assert.notEqual(v, '', key);
      if (v !== '' && f.pattern !== undefined) assert.match(v as string, f.pattern, key);
      return;
    case 'bool':
      assert.equal(typeof v, 'boolean', key);
      return;
    case 'enum':
      assert.ok(f.values.includes(v as string), `${key}: ${String(v)}`);
      return;
    case 'list':
      assert.ok(Array.isArray(v) && v.every((i) => typeof i === 'string' && (f.values === undefined || f.values.includes(i))), `${key}: ${String(v)}`);
      return;
  }
}

function valueAt(config: unknown, p: readonly string[]): unknown {
  let v = config;
  for (const part of p) {
    assert.ok(typeof v === 'object' && v !== null, `${p.join('.')}: a section`);
    assert.ok(Object.prototype.hasOwnProperty.call(v, part), `${p.join('.')}: present`);
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** `ok` with a config obeying the schema, or a non-empty list of issues, each with a message. */
function assertWellFormed(r: Result<LoadedConfig, readonly ConfigIssue[]>): void {
  if (r.ok) {
    for (const l of LEAVES) assertFieldValue(l.field, valueAt(r.value.config, l.path), l.key);
    for (const [k, s] of r.value.sources) assert.ok(typeof k === 'string' && typeof s === 'string' && s !== '');
    for (const w of r.value.warnings) assert.ok(typeof w === 'string' && w !== '');
  } else {
    assert.ok(Array.isArray(r.error) && r.error.length > 0, 'a failure lists its issues');
    for (const i of r.error) {
      assert.ok(typeof i.message === 'string' && i.message.trim() !== '', `issue without a message: ${JSON.stringify(i)}`);
      // the key may be '' (a YAML key `"": x` is an unknown key named '')
      assert.ok(typeof i.source === 'string' && i.source !== '' && typeof i.key === 'string', JSON.stringify(i));
    }
  }
}


// ----- generators ----------------------------------------------------------------------------------

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'] as const;

const hostileUnit = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  { weight: 3, arbitrary: fc.constantFrom(':', '-', '#', '&', '*', '!', '|', '>', "'", '"', '%', '@', '`', '{', '[', ',', '?', '\t', '\n', ' ', '\\', '\u0000', '\ufeff', '\u2028') },
);
const hostileString = (maxLength = 16): fc.Arbitrary<string> => fc.string({ unit: hostileUnit, maxLength });

/** Plain scalars YAML reads as numbers, booleans, nulls, or specials; and tagged or anchored ones. */
const HOSTILE_SCALARS = [
  '-0', '0', '1e308', '-1e308', '1e400', '.inf', '-.inf', '.nan', '.NaN', '0x1F', '0o17', '0b101', '0777', '+12', '1_000', '9007199254740993', '9223372036854775808',
  '-9223372036854775809', '3.0', '1.5', '~', 'null', 'Null', 'NULL', 'true', 'True', 'FALSE', 'yes', 'no', 'on', 'off', 'y', '""', "''", '"\\ud800"', '"\\x00"',
  '"\\U0010FFFF"', '!!binary aGVsbG8=', '!!set {a, b}', '!!omap [a: 1]', '!!timestamp 2001-12-14', '!!str 1', '!!int "12"', '!!int "x"', '!!float abc', '!!bool maybe',
  '!!null x', '!foo bar', '!<tag:x> y', '&a 1', '*a', '*nowhere', '[1, 2]', '{a: 1}', '[]', '{}', '"a,b"', '[HS256, RS256]', '[HS256, 1]', '[[HS256]]', '|\n    block\n', '>-\n    folded\n',
  '2001-12-14t21:59:43.10-05:00', '? x', '- a', ': x', '@x', '`x', '%x', '#comment',
];

const scalarYaml: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_SCALARS) },
  { weight: 1, arbitrary: fc.integer().map(String) },
  { weight: 2, arbitrary: hostileString().map((s) => JSON.stringify(s)) },
  { weight: 1, arbitrary: hostileString().map((s) => `'${s.replace(/'/g, "''")}'`) },
  { weight: 1, arbitrary: hostileString() },
  { weight: 1, arbitrary: fc.integer({ min: 20, max: 3000 }).map((n) => '9'.repeat(n)) },
);

const keyYaml = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...PROTO_KEYS, '<<', 'app', 'port', 'polluted') }, { weight: 1, arbitrary: hostileString(8).map((s) => JSON.stringify(s)) }, { weight: 1, arbitrary: hostileString(6) });

/** Flow-style values of modest depth, prototype keys in every mapping. */
const { value: flowYaml } = fc.letrec<{ value: string; seq: string; map: string }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 4 }, scalarYaml, tie('seq'), tie('map')),
  seq: fc.array(tie('value'), { maxLength: 4 }).map((xs) => `[${xs.join(', ')}]`),
  map: fc.array(fc.tuple(keyYaml, tie('value')), { maxLength: 4 }).map((kv) => `{${kv.map(([k, v]) => `${k}: ${v}`).join(', ')}}`),
}));

const pollutionYaml = fc.constantFrom(...PROTO_KEYS).map((k) => `{${k}: {polluted: true, constructor: {prototype: {polluted: true}}}}`);
const anyValueYaml = fc.oneof({ weight: 3, arbitrary: scalarYaml }, { weight: 2, arbitrary: flowYaml }, { weight: 1, arbitrary: pollutionYaml });

/** A text matching `re` (for string fields with a pattern). */
const matching = (re: RegExp): fc.Arbitrary<string> => fc.stringMatching(re).filter((s) => s.length <= 300);

/** A value valid for the field, as YAML, or (when `hostile`) anything at all. */
function fieldYaml(f: Field, name: string, hostile: boolean): fc.Arbitrary<string> {
  let valid: fc.Arbitrary<string>;
  switch (f.kind) {
    case 'int':
      valid = fc.oneof(fc.integer({ min: f.min, max: f.max }).map(String), fc.constantFrom(String(f.min), String(f.max)));
      if (hostile) valid = fc.oneof(valid, fc.constantFrom(String(f.min - 1), String(f.max + 1)));
      break;
    case 'string':
      valid = f.pattern !== undefined ? matching(f.pattern).map((s) => JSON.stringify(s)) : hostileString().map((s) => JSON.stringify(s));
      if (!hostile && /File$/.test(name)) valid = fc.constant('""'); // a file that does not exist is an issue
      break;
    case 'bool':
      valid = fc.constantFrom('true', 'false');
      break;
    case 'enum':
      valid = fc.constantFrom(...f.values);
      break;
    case 'list':
      valid = fc.subarray([...(f.values ?? ['a', 'b'])]).map((xs) => `[${xs.join(', ')}]`);
      break;
  }
  return hostile ? fc.oneof({ weight: 2, arbitrary: valid }, { weight: 1, arbitrary: anyValueYaml }) : valid;
}

/**
 * A block mapping of `section` at `indent`: known keys with valid values, each once; when
 * `hostile`, also hostile values, prototype and unknown keys, and repeated keys.
 */
function sectionYaml(section: Section, indent: number, hostile = true): fc.Arbitrary<string> {
  const pad = ' '.repeat(indent);
  const names = Object.keys(section);
  const entryOf = (name: string): fc.Arbitrary<string> => {
    const node = section[name];
    if (node === undefined) return fc.constant('');
    let value: fc.Arbitrary<string>;
    if (isField(node)) {
      value = fieldYaml(node, name, hostile).map((v) => ` ${v}`);
    } else {
      const sub = sectionYaml(node, indent + 2, hostile).map((b) => (b === '' ? '' : `\n${b}`));
      value = hostile ? fc.oneof({ weight: 4, arbitrary: sub }, { weight: 1, arbitrary: anyValueYaml.map((v) => ` ${v}`) }) : sub;
    }
    return value.map((v) => `${pad}${name}:${v}`);
  };
  const join = (lines: readonly string[]): string => lines.filter((l) => l !== '').join('\n');
  if (!hostile) return fc.shuffledSubarray(names, { maxLength: Math.min(5, names.length) }).chain((ns) => fc.tuple(...ns.map(entryOf)).map(join));
  const known = fc.constantFrom(...names).chain(entryOf);
  const protoEntry = fc.tuple(fc.constantFrom(...PROTO_KEYS), fc.oneof(anyValueYaml.map((v) => ` ${v}`), fc.constant(`\n${pad}  polluted: true\n${pad}  app:\n${pad}    name: x`))).map(([k, v]) => `${pad}${k}:${v}`);
  const other = fc.tuple(keyYaml, anyValueYaml).map(([k, v]) => `${pad}${k}: ${v}`);
  return fc.array(fc.oneof({ weight: 6, arbitrary: known }, { weight: 1, arbitrary: protoEntry }, { weight: 1, arbitrary: other }), { maxLength: 5 }).map(join);
}

/** Documents built from YAML's sharp edges: aliases, bombs, recursion, merges, directives. */
const TRICKY_DOCS: readonly string[] = [
  'websocket: &w\n  port: 1\nadmin: *w\n',
  'app: &a {name: x, polluted: *a}\n',
  'app: &a [*a]\n',
  'app:\n  name: *nowhere\n',
  'base: &b {port: 9}\nwebsocket:\n  <<: *b\n',
  '%YAML 1.1\n---\nwebsocket:\n  port: 0x1F\nserver:\n  tlsRequireClientCert: yes\napp:\n  name: 2001-12-14\n',
  '%YAML 1.1\n---\nb: &b {port: 9}\nwebsocket:\n  <<: *b\n',
  '%TAG ! tag:example.com,2000:\n---\napp: !foo x\n',
  '---\napp:\n  name: one\n---\napp:\n  name: two\n',
  '\ufeffapp:\n  name: bom\n',
  'app:\n\tname: tab\n',
  'app:\n  name: a\n  name: b\n',
  'app: {name: a, name: b}\n',
  'app:\n  name: "unterminated\n',
  '? [a, b]\n: c\n? {app: 1}\n: d\n',
  'app:\n  ? name\n  : complex\n',
  'app: !!map {name: x}\nwebsocket: !!seq [1]\n',
  'app: !!binary aGVsbG8=\nwebsocket: !!set {port}\nserver: !!omap [port: 1]\n',
  '...\n',
  '',
  '# only a comment\n',
  '- a\n- b\n',
  '"just a string"\n',
  '42\n',
  'null\n',
];

/** The billion-laughs shape: every level multiplies the aliases of the one before. */
const aliasBomb = fc.integer({ min: 2, max: 9 }).map((levels) => {
  let s = 'l0: &l0 [x, x, x, x, x, x, x, x, x]\n';
  for (let i = 1; i < levels; i++) s += `l${i}: &l${i} [${Array.from({ length: 9 }, () => `*l${i - 1}`).join(', ')}]\n`;
  return `${s}app:\n  name: *l${levels - 1}\n`;
});

/** Nesting from hundreds to thousands of levels, built as a string. */
const deepYaml = fc.record({ depth: fc.integer({ min: 100, max: 3000 }), style: fc.constantFrom('flow-seq', 'flow-map', 'block-map', 'block-seq'), key: fc.constantFrom(...PROTO_KEYS, 'app', 'websocket') }).map(({ depth, style, key }) => {
  switch (style) {
    case 'flow-seq':
      return `app: ${'['.repeat(depth)}1${']'.repeat(depth)}\n`;
    case 'flow-map':
      return `app: ${`{${key}: `.repeat(depth)}1${'}'.repeat(depth)}\n`;
    case 'block-map': {
      const n = Math.min(depth, 400); // block nesting costs indentation: 400 levels is already ~80 KB
      return Array.from({ length: n }, (_, i) => `${' '.repeat(i)}${i % 2 === 0 ? key : 'app'}:`).join('\n') + ' 1\n';
    }
    default: {
      const n = Math.min(depth, 400);
      return Array.from({ length: n }, (_, i) => `${' '.repeat(i * 2)}-`).join('\n') + ' 1\n';
    }
  }
});

const INVALID_UTF8: readonly (readonly number[])[] = [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf5, 0x80, 0x80, 0x80], [0x80], [0xe2, 0x82], [0xff], [0xfe, 0xff]];

const docText = fc.oneof(
  { weight: 6, arbitrary: sectionYaml(schema, 0, false) },
  { weight: 8, arbitrary: fc.tuple(fc.constantFrom('', '---\n', '%YAML 1.2\n---\n', '%YAML 1.1\n---\n', '\ufeff'), sectionYaml(schema, 0), fc.constantFrom('\n', '', '\n...\n', '\n---\napp:\n  name: second\n')).map(([a, b, c]) => a + b + c) },
  { weight: 2, arbitrary: fc.constantFrom(...TRICKY_DOCS) },
  { weight: 1, arbitrary: aliasBomb },
  { weight: 1, arbitrary: deepYaml },
  { weight: 1, arbitrary: flowYaml },
  { weight: 1, arbitrary: hostileString(200) },
  { weight: 1, arbitrary: sectionYaml(schema, 0).map((s) => s.replace(/^( +)/gm, (m) => '\t'.repeat(m.length / 2))) },
);

/** A document's bytes, sometimes with invalid UTF-8 spliced in, sometimes random bytes. */
const docBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 10, arbitrary: docText.map((t) => new Uint8Array(Buffer.from(t, 'utf8'))) },
  {
    weight: 1,
    arbitrary: fc.tuple(docText, fc.nat(), fc.constantFrom(...INVALID_UTF8)).map(([t, at, seq]) => {
      const b = Buffer.from(t, 'utf8');
      const i = at % (b.length + 1);
      return new Uint8Array(Buffer.concat([b.subarray(0, i), Buffer.from(seq), b.subarray(i)]));
    }),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
);

/** Environment values: valid for the variable's field, or hostile. */
const HOSTILE_ENV = ['', ' ', ' 8080 ', '8080\n', '-0', '+1', '0x1F', '1e3', '1.0', '99999999999999999999', 'NaN', 'Infinity', 'true', 'yes', 'TRUE', 'a,b,,', ',', 'null', 'undefined', '__proto__', 'constructor', '\u0000', '\ud800', 'redis://', 'host:99999', '[::1]:80', 'a'.repeat(5000)];
function envValue(f: Field, hostile: boolean): fc.Arbitrary<string> {
  let valid: fc.Arbitrary<string>;
  switch (f.kind) {
    case 'int':
      valid = fc.integer({ min: f.min, max: f.max }).map(String);
      break;
    case 'string':
      valid = f.pattern !== undefined ? matching(f.pattern) : hostileString();
      if (!hostile && f.env?.endsWith('_FILE') === true) valid = fc.constant('');
      break;
    case 'bool':
      valid = fc.constantFrom('true', 'false', '1', '0', 'yes', 'no', ' TRUE ');
      break;
    case 'enum':
      valid = fc.constantFrom(...f.values);
      break;
    case 'list':
      valid = fc.subarray([...(f.values ?? ['a'])]).map((xs) => xs.join(','));
      break;
  }
  return hostile ? fc.oneof({ weight: 2, arbitrary: valid }, { weight: 1, arbitrary: fc.constantFrom(...HOSTILE_ENV) }, { weight: 1, arbitrary: hostileString(40) }) : valid;
}

const appEnvArb = fc.option(fc.oneof({ weight: 4, arbitrary: fc.constantFrom('dev', 'prod', 'staging', 'constructor', 'prototype', '__proto__') }, { weight: 1, arbitrary: fc.constantFrom('', 'DEV', '../config', 'a'.repeat(40), 'dev/../prod', 'dev\u0000') }, { weight: 1, arbitrary: hostileString(10) }), { freq: 3 });
const configDirArb = fc.option(fc.constantFrom('config', './config/', 'missing', '', '.', 'config/app.yml', 'con\u0000fig', '\ud800'), { freq: 2 });

const envArb = fc
  .record({
    appEnv: appEnvArb,
    configDir: configDirArb,
    vars: fc.array(fc.constantFrom(...ENV_LEAVES).chain((l) => envValue(l.field, true).map((v) => [l.field.env ?? '', v] as const)), { maxLength: 6 }),
    weird: fc.array(fc.tuple(fc.constantFrom(...PROTO_KEYS, 'IMA_', 'IMA_UNKNOWN', 'ima_ws_port'), hostileString()), { maxLength: 2 }),
  })
  .map(({ appEnv, configDir, vars, weird }) => {
    const env: NodeJS.ProcessEnv = {};
    const put = (k: string, v: string): void => {
      Object.defineProperty(env, k, { value: v, enumerable: true, writable: true, configurable: true });
    };
    if (appEnv !== null) put('APP_ENV', appEnv);
    if (configDir !== null) put('IMA_CONFIG_DIR', configDir);
    for (const [k, v] of [...weird, ...vars]) put(k, v);
    return env;
  });

/** The five files of the config directory and of an overlay (each maybe absent). */
const filesArb = fc
  .record({ base: fc.array(fc.tuple(fc.constantFrom(...CONFIG_FILES), docBytes), { maxLength: 5 }), overlay: fc.array(fc.tuple(fc.constantFrom(...CONFIG_FILES), docBytes), { maxLength: 2 }), overlayName: fc.constantFrom('dev', 'prod', 'staging', 'constructor') })
  .map(({ base, overlay, overlayName }) => {
    const files: Record<string, Uint8Array> = {};
    for (const [name, bytes] of base) files[path.join('config', name)] = bytes;
    for (const [name, bytes] of overlay) files[path.join('config', overlayName, name)] = bytes;
    return files;
  });

/** Valid files and variables only: most such runs load, so the schema checks of a result get exercised. */
const cleanInput = fc
  .record({
    base: fc.array(fc.tuple(fc.constantFrom(...CONFIG_FILES), sectionYaml(schema, 0, false)), { maxLength: 3 }),
    overlay: fc.array(fc.tuple(fc.constantFrom(...CONFIG_FILES), sectionYaml(schema, 0, false)), { maxLength: 1 }),
    vars: fc.array(fc.constantFrom(...ENV_LEAVES).chain((l) => envValue(l.field, false).map((v) => [l.field.env ?? '', v] as const)), { maxLength: 3 }),
  })
  .map(({ base, overlay, vars }) => {
    const files: Record<string, Uint8Array> = {};
    for (const [name, text] of base) files[path.join('config', name)] = new Uint8Array(Buffer.from(text, 'utf8'));
    for (const [name, text] of overlay) files[path.join('config', 'dev', name)] = new Uint8Array(Buffer.from(text, 'utf8'));
    const env: NodeJS.ProcessEnv = { APP_ENV: 'dev' };
    for (const [k, v] of vars) env[k] = v;
    return [files, env] as const;
  });

// ----- properties ---------------------------------------------------------------------------------------

describe('loadConfig fuzz', () => {
  test('any files and environment: a schema-conforming config or issues with messages; never a throw or pollution', () => {
    fc.assert(
      fc.property(fc.oneof({ weight: 3, arbitrary: fc.tuple(filesArb, envArb) }, { weight: 1, arbitrary: cleanInput }), ([files, env]) => {
        const r = load(files, env);
        assertNoPrototypePollution();
        assertWellFormed(r);
      }),
      { numRuns: 200 },
    );
  });

  test('~1 MB values and files are loaded or refused without a throw', () => {
    const big = fc.record({ size: fc.integer({ min: 100_000, max: 1_000_000 }), unit: fc.string({ unit: hostileUnit, minLength: 1, maxLength: 3 }), where: fc.constantFrom('yaml-string', 'yaml-digits', 'yaml-list', 'yaml-keys', 'env') });
    fc.assert(
      fc.property(big, ({ size, unit, where }) => {
        const s = unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
        const files: Record<string, Uint8Array> = {};
        const env: NodeJS.ProcessEnv = {};
        const yaml = (t: string): Uint8Array => new Uint8Array(Buffer.from(t, 'utf8'));
        // a string of about `size` characters once escaped
        const quoted = JSON.stringify(unit.repeat(Math.ceil(size / (JSON.stringify(unit).length - 2))));
        if (where === 'yaml-string') files[path.join('config', 'app.yml')] = yaml(`app:\n  name: ${quoted}\n`);
        else if (where === 'yaml-digits') files[path.join('config', 'websocket.yml')] = yaml(`websocket:\n  port: ${'9'.repeat(size)}\n`);
        // yaml parses long collections at ~20 us an item and checks key uniqueness in O(n^2): a few thousand items, long keys
        else if (where === 'yaml-list') files[path.join('config', 'app.yml')] = yaml(`auth:\n  jwt:\n    algorithms: [${`${JSON.stringify(s.slice(0, 100))}, `.repeat(Math.floor(size / 200))}RS256]\n`);
        else if (where === 'yaml-keys') files[path.join('config', 'app.yml')] = yaml(`app:\n${Array.from({ length: Math.floor(size / 500) }, (_, i) => `  ${JSON.stringify(`${i}${s.slice(0, 480)}`)}: 1`).join('\n')}\n`);
        else env['IMA_JWT_SECRET'] = s;
        const r = load(files, env);
        assertWellFormed(r);
        if (where === 'env' && r.ok) assert.equal(r.value.config.auth.jwt.secret, s);
      }),
      { numRuns: 4 },
    );
  });

  test('a valid value for any field, from a file (base or overlay) or from the environment, is the loaded value', () => {
    const FILE_FIELDS = LEAVES.filter((l) => !/tls|publicKeyFile/i.test(l.key));
    const validValue = (f: Field): fc.Arbitrary<unknown> => {
      switch (f.kind) {
        case 'int':
          return fc.integer({ min: f.min, max: f.max });
        case 'string':
          return f.pattern !== undefined ? matching(f.pattern) : fc.string({ unit: fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c))), maxLength: 20 });
        case 'bool':
          return fc.boolean();
        case 'enum':
          return fc.constantFrom(...f.values);
        case 'list':
          return fc.subarray([...(f.values ?? ['a', 'b', 'c'])]);
      }
    };
    const pick = fc.constantFrom(...FILE_FIELDS).chain((l) => fc.record({ l: fc.constant(l), v: validValue(l.field), file: fc.constantFrom(...CONFIG_FILES), via: fc.constantFrom('base', 'overlay', 'env'), appEnv: fc.constantFrom('dev', 'staging') }));
    fc.assert(
      fc.property(pick, ({ l, v, file, via, appEnv }) => {
        const f = l.field;
        if (via === 'env' && f.env === undefined) return;
        if (f.kind === 'string' && f.nonEmpty === true && v === '') return;
        const env: NodeJS.ProcessEnv = { APP_ENV: appEnv };
        const files: Record<string, Uint8Array> = {};
        const scalar = Array.isArray(v) ? `[${v.map((x) => JSON.stringify(x)).join(', ')}]` : typeof v === 'string' ? JSON.stringify(v) : String(v);
        const yaml = l.path.map((p, i) => `${'  '.repeat(i)}${p}:`).join('\n') + ` ${scalar}\n`;
        if (via === 'env') env[f.env ?? ''] = Array.isArray(v) ? v.join(',') : String(v);
        else if (via === 'base') files[path.join('config', file)] = new Uint8Array(Buffer.from(yaml, 'utf8'));
        else {
          // the overlay wins over a base file giving the key (its default, so that file is valid)
          const d = f.default;
          files[path.join('config', file)] = new Uint8Array(Buffer.from(`${l.path.map((p, i) => `${'  '.repeat(i)}${p}:`).join('\n')} ${Array.isArray(d) ? JSON.stringify(d) : JSON.stringify(d)}\n`, 'utf8'));
          files[path.join('config', appEnv, CONFIG_FILES[(CONFIG_FILES.indexOf(file) + 1) % CONFIG_FILES.length] ?? file)] = new Uint8Array(Buffer.from(yaml, 'utf8'));
        }
        // the cross-key rules that can refuse a single valid value (with every other key at its default)
        const refused =
          (l.key === 'auth.provider' && v === 'muc') ||
          (l.key === 'redis.leaseRefreshSec' && (v as number) * 2 > 15) ||
          (l.key === 'redis.leaseTtlSec' && (v as number) < 6) ||
          (l.key === 'redis.pubsubIngress' && v === true) ||
          (appEnv !== 'dev' && !(l.key === 'auth.jwt.secret' && v !== '') && !(l.key === 'auth.provider' && v === 'muc'));
        const r = load(files, env);
        assertWellFormed(r);
        if (refused) return;
        if (!r.ok) assert.fail(`${l.key} = ${JSON.stringify(v)} via ${via}: ${r.error.map((i) => `${i.source}: ${i.key}: ${i.message}`).join('; ')}`);
        // lone surrogates written as YAML "\udXXX" escapes come back as they were
        assert.deepEqual(valueAt(r.value.config, l.path), l.key === 'auth.jwt.secret' && v === '' ? r.value.config.auth.jwt.secret : v);
        assert.equal(r.value.sources.get(l.key), via === 'env' ? `env ${f.env ?? ''}` : via === 'base' ? path.join('config', file) : path.join('config', appEnv, CONFIG_FILES[(CONFIG_FILES.indexOf(file) + 1) % CONFIG_FILES.length] ?? file));
      }),
      { numRuns: 200 },
    );
  });

  test('a string key keeps what was written, also when YAML reads the plain scalar as a number or a boolean', () => {
    const STRING_FIELDS = LEAVES.filter((l) => l.field.kind === 'string' && l.field.pattern === undefined && !/tls|publicKeyFile/i.test(l.key));
    const plain = fc.constantFrom('1.0', '0012', '1e3', '0x1F', '0o17', '-0', '+12', '.inf', '-.Inf', '.NaN', '12345678901234567890', 'true', 'True', 'TRUE', 'false', 'False', 'FALSE', '007', '1_000', 'yes');
    fc.assert(
      fc.property(fc.constantFrom(...STRING_FIELDS), plain, (l, text) => {
        const yaml = l.path.map((p, i) => `${'  '.repeat(i)}${p}:`).join('\n') + ` ${text}\n`;
        const r = load({ [path.join('config', 'app.yml')]: new Uint8Array(Buffer.from(yaml, 'utf8')) }, { APP_ENV: 'dev' });
        if (!r.ok) assert.fail(`${l.key}: ${text}: ${r.error.map((i) => i.message).join('; ')}`);
        assert.equal(valueAt(r.value.config, l.path), text, `${l.key}: ${text}`);
      }),
      { numRuns: 60 },
    );
  });
});
