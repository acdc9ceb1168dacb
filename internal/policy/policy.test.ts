import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { PLATFORMS } from '../protocol/codes';
import type { Platform } from '../protocol/codes';
import {
  CONFLICT_MODES,
  POLICIES,
  compareAge,
  decide,
  deviceClass,
  isConflictMode,
  isPolicyName,
  slotKey,
} from './policy';
import type { ConflictMode, DeviceClass, ExistingSession, IncomingSession, PolicyDecision, PolicyName, PolicySettings } from './policy';

// ---------------------------------------------------------------------------------------------
// helpers

let nextEpoch = 1;
/** An existing session; `connectedAt` defaults to its epoch so that declaration order = age. */
function ex(deviceId: string, platform: Platform, connectedAt?: number, epoch?: number): ExistingSession {
  const e = epoch ?? nextEpoch++;
  return Object.freeze({ deviceId, platform, connectedAt: connectedAt ?? 1_000 + e, instanceId: 'gw-1', epoch: e });
}
function inc(deviceId: string, platform: Platform): IncomingSession {
  return Object.freeze({ deviceId, platform, connectedAt: 9_999_999 });
}
function cfg(policy: PolicyName, onConflict: ConflictMode = 'kick_old', maxConnectionsPerUser = 10): PolicySettings {
  return Object.freeze({ policy, maxConnectionsPerUser, onConflict });
}

/** Compact view of a decision: `['d1:same_device', ...]` or `{ reject: ['d2', ...] }`. */
type Outcome = readonly string[] | { readonly reject: readonly string[] };
function outcome(d: PolicyDecision): Outcome {
  if (d.admit) return d.victims.map((v) => `${v.session.deviceId}:${v.reason}`);
  return { reject: d.conflicts.map((s) => s.deviceId) };
}

/** decide() on frozen copies, checking the inputs are left untouched. */
function run(existing: readonly ExistingSession[], incoming: IncomingSession, settings: PolicySettings): PolicyDecision {
  const frozen = Object.freeze([...existing]);
  const before = JSON.stringify(frozen);
  const d = decide(frozen, incoming, settings);
  assert.equal(JSON.stringify(frozen), before, 'inputs must not be mutated');
  // victims / conflicts are the very session objects handed in
  const out = d.admit ? d.victims.map((v) => v.session) : d.conflicts;
  for (const s of out) assert.ok(existing.includes(s), 'result must reference the input sessions');
  return d;
}

interface Row {
  readonly name: string;
  readonly existing: readonly ExistingSession[];
  readonly incoming: IncomingSession;
  readonly settings: PolicySettings;
  readonly want: Outcome;
}

function table(title: string, rows: readonly Row[]): void {
  for (const r of rows) {
    test(`${title}: ${r.name}`, () => {
      assert.deepEqual(outcome(run(r.existing, r.incoming, r.settings)), r.want);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// the five policies, two and three devices on different platforms (kick_old, default cap)

table('allow_all', [
  { name: 'ios + android', existing: [ex('d1', 'ios')], incoming: inc('d2', 'android'), settings: cfg('allow_all'), want: [] },
  { name: 'ios + ios (other device)', existing: [ex('d1', 'ios')], incoming: inc('d2', 'ios'), settings: cfg('allow_all'), want: [] },
  { name: 'ios + windows', existing: [ex('d1', 'ios')], incoming: inc('d2', 'windows'), settings: cfg('allow_all'), want: [] },
  { name: 'ipad + apad', existing: [ex('d1', 'ipad')], incoming: inc('d2', 'apad'), settings: cfg('allow_all'), want: [] },
  { name: 'web + miniweb', existing: [ex('d1', 'web')], incoming: inc('d2', 'miniweb'), settings: cfg('allow_all'), want: [] },
  {
    name: 'windows + macos + ios',
    existing: [ex('d1', 'windows'), ex('d2', 'macos')],
    incoming: inc('d3', 'ios'),
    settings: cfg('allow_all'),
    want: [],
  },
  {
    name: 'ios + ios + ios, reject_new changes nothing',
    existing: [ex('d1', 'ios'), ex('d2', 'ios')],
    incoming: inc('d3', 'ios'),
    settings: cfg('allow_all', 'reject_new'),
    want: [],
  },
]);

table('one_per_platform', [
  { name: 'ios + android', existing: [ex('d1', 'ios')], incoming: inc('d2', 'android'), settings: cfg('one_per_platform'), want: [] },
  { name: 'ios + ios', existing: [ex('d1', 'ios')], incoming: inc('d2', 'ios'), settings: cfg('one_per_platform'), want: ['d1:policy'] },
  { name: 'ios + windows', existing: [ex('d1', 'ios')], incoming: inc('d2', 'windows'), settings: cfg('one_per_platform'), want: [] },
  { name: 'ipad + apad', existing: [ex('d1', 'ipad')], incoming: inc('d2', 'apad'), settings: cfg('one_per_platform'), want: [] },
  { name: 'web + miniweb', existing: [ex('d1', 'web')], incoming: inc('d2', 'miniweb'), settings: cfg('one_per_platform'), want: [] },
  {
    name: 'windows + macos + ios',
    existing: [ex('d1', 'windows'), ex('d2', 'macos')],
    incoming: inc('d3', 'ios'),
    settings: cfg('one_per_platform'),
    want: [],
  },
  {
    name: 'windows + macos + windows',
    existing: [ex('d1', 'windows'), ex('d2', 'macos')],
    incoming: inc('d3', 'windows'),
    settings: cfg('one_per_platform'),
    want: ['d1:policy'],
  },
]);

table('one_per_class', [
  { name: 'ios + android (mobile)', existing: [ex('d1', 'ios')], incoming: inc('d2', 'android'), settings: cfg('one_per_class'), want: ['d1:policy'] },
  { name: 'ios + windows', existing: [ex('d1', 'ios')], incoming: inc('d2', 'windows'), settings: cfg('one_per_class'), want: [] },
  { name: 'ipad + apad (pad)', existing: [ex('d1', 'ipad')], incoming: inc('d2', 'apad'), settings: cfg('one_per_class'), want: ['d1:policy'] },
  { name: 'ipad + ios', existing: [ex('d1', 'ipad')], incoming: inc('d2', 'ios'), settings: cfg('one_per_class'), want: [] },
  { name: 'web + miniweb', existing: [ex('d1', 'web')], incoming: inc('d2', 'miniweb'), settings: cfg('one_per_class'), want: [] },
  { name: 'web + web', existing: [ex('d1', 'web')], incoming: inc('d2', 'web'), settings: cfg('one_per_class'), want: ['d1:policy'] },
  {
    name: 'windows + ios + macos (desktop)',
    existing: [ex('d1', 'windows'), ex('d2', 'ios')],
    incoming: inc('d3', 'macos'),
    settings: cfg('one_per_class'),
    want: ['d1:policy'],
  },
  {
    name: 'windows + macos + linux (left over from another policy): both desktops go, oldest first',
    existing: [ex('d2', 'macos', 200), ex('d1', 'windows', 100)],
    incoming: inc('d3', 'linux'),
    settings: cfg('one_per_class'),
    want: ['d1:policy', 'd2:policy'],
  },
  {
    name: 'ios + windows + ipad',
    existing: [ex('d1', 'ios'), ex('d2', 'windows')],
    incoming: inc('d3', 'ipad'),
    settings: cfg('one_per_class'),
    want: [],
  },
]);

table('pc_and_one_other', [
  { name: 'windows + macos', existing: [ex('d1', 'windows')], incoming: inc('d2', 'macos'), settings: cfg('pc_and_one_other'), want: [] },
  { name: 'windows + windows', existing: [ex('d1', 'windows')], incoming: inc('d2', 'windows'), settings: cfg('pc_and_one_other'), want: [] },
  { name: 'ios + windows', existing: [ex('d1', 'ios')], incoming: inc('d2', 'windows'), settings: cfg('pc_and_one_other'), want: [] },
  { name: 'windows + ios', existing: [ex('d1', 'windows')], incoming: inc('d2', 'ios'), settings: cfg('pc_and_one_other'), want: [] },
  { name: 'ios + android', existing: [ex('d1', 'ios')], incoming: inc('d2', 'android'), settings: cfg('pc_and_one_other'), want: ['d1:policy'] },
  { name: 'ipad + apad', existing: [ex('d1', 'ipad')], incoming: inc('d2', 'apad'), settings: cfg('pc_and_one_other'), want: ['d1:policy'] },
  { name: 'web + miniweb', existing: [ex('d1', 'web')], incoming: inc('d2', 'miniweb'), settings: cfg('pc_and_one_other'), want: ['d1:policy'] },
  {
    name: 'windows + macos + ios',
    existing: [ex('d1', 'windows'), ex('d2', 'macos')],
    incoming: inc('d3', 'ios'),
    settings: cfg('pc_and_one_other'),
    want: [],
  },
  {
    name: 'windows + ipad + web',
    existing: [ex('d1', 'windows'), ex('d2', 'ipad')],
    incoming: inc('d3', 'web'),
    settings: cfg('pc_and_one_other'),
    want: ['d2:policy'],
  },
  {
    name: 'windows + linux + macos + windows: desktops unlimited',
    existing: [ex('d1', 'windows'), ex('d2', 'linux'), ex('d3', 'macos')],
    incoming: inc('d4', 'windows'),
    settings: cfg('pc_and_one_other'),
    want: [],
  },
]);

table('single_session', [
  { name: 'ios + android', existing: [ex('d1', 'ios')], incoming: inc('d2', 'android'), settings: cfg('single_session'), want: ['d1:policy'] },
  { name: 'ios + windows', existing: [ex('d1', 'ios')], incoming: inc('d2', 'windows'), settings: cfg('single_session'), want: ['d1:policy'] },
  { name: 'ipad + apad', existing: [ex('d1', 'ipad')], incoming: inc('d2', 'apad'), settings: cfg('single_session'), want: ['d1:policy'] },
  { name: 'web + miniweb', existing: [ex('d1', 'web')], incoming: inc('d2', 'miniweb'), settings: cfg('single_session'), want: ['d1:policy'] },
  {
    name: 'windows + macos + ios (left over from another policy): all go, oldest first',
    existing: [ex('d2', 'macos', 300), ex('d1', 'windows', 100), ex('d3', 'ios', 200)],
    incoming: inc('d4', 'web'),
    settings: cfg('single_session'),
    want: ['d1:policy', 'd3:policy', 'd2:policy'],
  },
]);

// ---------------------------------------------------------------------------------------------
// same-device replacement: under every policy, with both conflict modes

for (const policy of POLICIES) {
  for (const mode of CONFLICT_MODES) {
    table(`same device, ${policy}/${mode}`, [
      { name: 'reconnect, same platform', existing: [ex('d1', 'ios')], incoming: inc('d1', 'ios'), settings: cfg(policy, mode), want: ['d1:same_device'] },
      {
        name: 'reconnect, platform changed',
        existing: [ex('d1', 'windows')],
        incoming: inc('d1', 'android'),
        settings: cfg(policy, mode),
        want: ['d1:same_device'],
      },
      {
        name: 'two stale sessions of the device, oldest first',
        existing: [ex('d1', 'web', 500, 9), ex('d1', 'web', 500, 4)],
        incoming: inc('d1', 'web'),
        settings: cfg(policy, mode),
        want: ['d1:same_device', 'd1:same_device'],
      },
      {
        name: 'cap 1 is not exceeded by a replacement',
        existing: [ex('d1', 'macos')],
        incoming: inc('d1', 'macos'),
        settings: cfg(policy, mode, 1),
        want: ['d1:same_device'],
      },
    ]);
  }
}

test('same device: the replaced session is exactly the one with that deviceId, with its epoch', () => {
  const old = ex('d1', 'ios', 100, 41);
  const other = ex('d2', 'windows', 50, 40);
  const d = run([other, old], inc('d1', 'ios'), cfg('one_per_class'));
  assert.equal(d.admit, true);
  assert.ok(d.admit);
  assert.equal(d.victims.length, 1);
  assert.equal(d.victims[0]?.session, old);
  assert.equal(d.victims[0]?.session.epoch, 41);
});

// ---------------------------------------------------------------------------------------------
// kick_old vs reject_new

table('onConflict', [
  { name: 'kick_old: the conflicting old one goes', existing: [ex('d1', 'ios')], incoming: inc('d2', 'android'), settings: cfg('one_per_class', 'kick_old'), want: ['d1:policy'] },
  {
    name: 'reject_new: the new one is refused, conflicts reported',
    existing: [ex('d1', 'ios')],
    incoming: inc('d2', 'android'),
    settings: cfg('one_per_class', 'reject_new'),
    want: { reject: ['d1'] },
  },
  {
    name: 'reject_new: no conflict, admitted',
    existing: [ex('d1', 'ios')],
    incoming: inc('d2', 'windows'),
    settings: cfg('one_per_class', 'reject_new'),
    want: [],
  },
  {
    name: 'reject_new: conflicts oldest first',
    existing: [ex('d2', 'ios', 200), ex('d1', 'android', 100), ex('d3', 'windows', 50)],
    incoming: inc('d4', 'web'),
    settings: cfg('single_session', 'reject_new'),
    want: { reject: ['d3', 'd1', 'd2'] },
  },
  {
    name: 'reject_new: rejection wins, the same-device session is not kicked either',
    existing: [ex('d1', 'ios'), ex('d2', 'android')],
    incoming: inc('d1', 'android'),
    settings: cfg('one_per_class', 'reject_new'),
    want: { reject: ['d2'] },
  },
  {
    name: 'reject_new: same-device replacement still applies when nothing else conflicts',
    existing: [ex('d1', 'ios'), ex('d2', 'windows')],
    incoming: inc('d1', 'ios'),
    settings: cfg('one_per_class', 'reject_new'),
    want: ['d1:same_device'],
  },
  {
    name: 'reject_new: the cap still evicts the oldest',
    existing: [ex('d1', 'ios'), ex('d2', 'android')],
    incoming: inc('d3', 'windows'),
    settings: cfg('one_per_platform', 'reject_new', 2),
    want: ['d1:max_connections'],
  },
  {
    name: 'reject_new: pc_and_one_other, desktop joins a mobile',
    existing: [ex('d1', 'android')],
    incoming: inc('d2', 'linux'),
    settings: cfg('pc_and_one_other', 'reject_new'),
    want: [],
  },
  {
    name: 'reject_new: pc_and_one_other, second non-desktop refused',
    existing: [ex('d1', 'linux'), ex('d2', 'android')],
    incoming: inc('d3', 'miniweb'),
    settings: cfg('pc_and_one_other', 'reject_new'),
    want: { reject: ['d2'] },
  },
]);

// ---------------------------------------------------------------------------------------------
// maxConnectionsPerUser

table('maxConnectionsPerUser', [
  {
    name: 'at the cap, the oldest goes',
    existing: [ex('d2', 'android', 200), ex('d1', 'ios', 100)],
    incoming: inc('d3', 'web'),
    settings: cfg('allow_all', 'kick_old', 2),
    want: ['d1:max_connections'],
  },
  {
    name: 'below the cap, nobody goes',
    existing: [ex('d1', 'ios'), ex('d2', 'android')],
    incoming: inc('d3', 'web'),
    settings: cfg('allow_all', 'kick_old', 3),
    want: [],
  },
  {
    name: 'ties on connectedAt broken by smaller epoch',
    existing: [ex('d7', 'ios', 100, 7), ex('d3', 'android', 100, 3), ex('d5', 'web', 100, 5)],
    incoming: inc('d9', 'macos'),
    settings: cfg('allow_all', 'kick_old', 2),
    want: ['d3:max_connections', 'd5:max_connections'],
  },
  {
    name: 'over the cap (cap lowered): as many oldest as needed, oldest first',
    existing: [ex('d4', 'ios', 400), ex('d2', 'ios', 200), ex('d1', 'ios', 100), ex('d3', 'ios', 300)],
    incoming: inc('d5', 'ios'),
    settings: cfg('allow_all', 'kick_old', 2),
    want: ['d1:max_connections', 'd2:max_connections', 'd3:max_connections'],
  },
  {
    name: 'cap 1 behaves like single_session',
    existing: [ex('d1', 'windows'), ex('d2', 'ios')],
    incoming: inc('d3', 'web'),
    settings: cfg('allow_all', 'kick_old', 1),
    want: ['d1:max_connections', 'd2:max_connections'],
  },
  {
    name: '0 = unlimited',
    existing: Array.from({ length: 50 }, (_, i) => ex(`d${i}`, 'web')),
    incoming: inc('new', 'web'),
    settings: cfg('allow_all', 'kick_old', 0),
    want: [],
  },
  {
    name: 'negative = unlimited',
    existing: Array.from({ length: 20 }, (_, i) => ex(`d${i}`, 'ios')),
    incoming: inc('new', 'ios'),
    settings: cfg('allow_all', 'kick_old', -1),
    want: [],
  },
  {
    name: 'default 10: the 11th evicts the oldest',
    existing: Array.from({ length: 10 }, (_, i) => ex(`d${i}`, 'web', 1000 - i)),
    incoming: inc('new', 'web'),
    settings: cfg('allow_all'),
    want: ['d9:max_connections'],
  },
  {
    name: 'policy victims are counted out before the cap',
    existing: [ex('d1', 'ios'), ex('d2', 'android')],
    incoming: inc('d3', 'ios'),
    settings: cfg('one_per_platform', 'kick_old', 2),
    want: ['d1:policy'],
  },
  {
    name: 'same-device victims are counted out before the cap',
    existing: [ex('d1', 'ios'), ex('d2', 'android')],
    incoming: inc('d2', 'android'),
    settings: cfg('allow_all', 'kick_old', 2),
    want: ['d2:same_device'],
  },
  {
    name: 'victim order: same_device, policy, max_connections, each oldest first',
    existing: [
      ex('d5', 'macos', 50),
      ex('d3', 'android', 20),
      ex('d1', 'ios', 500),
      ex('d4', 'windows', 30),
      ex('d2', 'android', 10),
    ],
    incoming: inc('d1', 'android'),
    settings: cfg('one_per_platform', 'kick_old', 2),
    want: ['d1:same_device', 'd2:policy', 'd3:policy', 'd4:max_connections'],
  },
]);

// ---------------------------------------------------------------------------------------------
// deviceClass, slotKey

const CLASSES: ReadonlyArray<readonly [Platform, DeviceClass]> = [
  ['ios', 'mobile'],
  ['android', 'mobile'],
  ['windows', 'desktop'],
  ['macos', 'desktop'],
  ['linux', 'desktop'],
  ['ipad', 'pad'],
  ['apad', 'pad'],
  ['web', 'web'],
  ['miniweb', 'miniweb'],
];

test('deviceClass: all 9 platforms', () => {
  assert.deepEqual(
    CLASSES.map(([p]) => p).sort(),
    [...PLATFORMS].sort(),
    'the table covers every platform',
  );
  for (const [p, want] of CLASSES) assert.equal(deviceClass(p), want, p);
});

test('slotKey: null cases', () => {
  for (const p of PLATFORMS) {
    assert.equal(slotKey('allow_all', p), null, `allow_all/${p}`);
    const desktop = deviceClass(p) === 'desktop';
    assert.equal(slotKey('pc_and_one_other', p) === null, desktop, `pc_and_one_other/${p}`);
    for (const policy of ['one_per_platform', 'one_per_class', 'single_session'] as const) {
      assert.notEqual(slotKey(policy, p), null, `${policy}/${p}`);
    }
  }
});

test('slotKey: equal keys exactly when the rule says the platforms share a slot', () => {
  for (const a of PLATFORMS) {
    for (const b of PLATFORMS) {
      const same = (policy: PolicyName): boolean => {
        const ka = slotKey(policy, a);
        return ka !== null && ka === slotKey(policy, b);
      };
      assert.equal(same('one_per_platform'), a === b, `one_per_platform ${a}/${b}`);
      assert.equal(same('one_per_class'), deviceClass(a) === deviceClass(b), `one_per_class ${a}/${b}`);
      assert.equal(
        same('pc_and_one_other'),
        deviceClass(a) !== 'desktop' && deviceClass(b) !== 'desktop',
        `pc_and_one_other ${a}/${b}`,
      );
      assert.equal(same('single_session'), true, `single_session ${a}/${b}`);
    }
  }
});

test('slotKey consistent with decide: every policy x platform pair x conflict mode', () => {
  let checked = 0;
  for (const policy of POLICIES) {
    for (const a of PLATFORMS) {
      for (const b of PLATFORMS) {
        const ka = slotKey(policy, a);
        const conflict = ka !== null && ka === slotKey(policy, b);
        const old = ex('old', a);
        const kick = run([old], inc('new', b), cfg(policy, 'kick_old', 0));
        assert.deepEqual(outcome(kick), conflict ? ['old:policy'] : [], `${policy} kick_old ${a} -> ${b}`);
        const reject = run([old], inc('new', b), cfg(policy, 'reject_new', 0));
        assert.deepEqual(outcome(reject), conflict ? { reject: ['old'] } : [], `${policy} reject_new ${a} -> ${b}`);
        checked++;
      }
    }
  }
  assert.equal(checked, POLICIES.length * PLATFORMS.length * PLATFORMS.length);
});

// ---------------------------------------------------------------------------------------------
// misc

test('no existing sessions: admitted, no victims, under every policy and mode', () => {
  for (const policy of POLICIES) {
    for (const mode of CONFLICT_MODES) {
      for (const max of [0, 1, 10]) {
        assert.deepEqual(outcome(run([], inc('d1', 'ios'), cfg(policy, mode, max))), [], `${policy}/${mode}/${max}`);
      }
    }
  }
});

test('compareAge: connectedAt first, then epoch', () => {
  const a = ex('a', 'ios', 100, 5);
  const b = ex('b', 'ios', 100, 6);
  const c = ex('c', 'ios', 99, 50);
  assert.deepEqual([b, a, c].sort(compareAge), [c, a, b]);
  assert.equal(compareAge(a, a), 0);
});

test('isPolicyName / isConflictMode', () => {
  for (const p of POLICIES) assert.equal(isPolicyName(p), true);
  for (const m of CONFLICT_MODES) assert.equal(isConflictMode(m), true);
  assert.equal(isPolicyName('kick_all'), false);
  assert.equal(isPolicyName('kick_old'), false);
  assert.equal(isConflictMode('allow_all'), false);
  assert.equal(isConflictMode(''), false);
});
