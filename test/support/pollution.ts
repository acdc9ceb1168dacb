import assert from 'node:assert/strict';

/** The built-in prototypes a hostile key (`__proto__`, `constructor`, ...) could reach. */
const PROTOTYPES: readonly object[] = [Object.prototype, Array.prototype, Function.prototype, String.prototype];
const objectToString = Object.prototype.toString;

function snapshot(): string {
  return PROTOTYPES.map((p) => Object.getOwnPropertyNames(p).sort().join(',')).join('|');
}

/** The prototypes as this module first saw them (it is loaded before any fuzzed input is handled). */
const CLEAN = snapshot();

/** Fails when fuzzed input added, removed or replaced a property of a built-in prototype. */
export function assertNoPrototypePollution(): void {
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype polluted');
  assert.equal(([] as unknown as Record<string, unknown>)['polluted'], undefined, 'Array.prototype polluted');
  assert.equal(Object.prototype.toString, objectToString, 'Object.prototype.toString replaced');
  assert.equal(snapshot(), CLEAN, 'a prototype gained or lost a property');
}
