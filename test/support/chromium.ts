/**
 * The system Chromium the browser tests drive through playwright-core (which downloads no
 * browser): where it is, how it is started, and a clear failure when it is missing.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Fails (never skips) when Chromium is not installed; `what` names the test in the message. */
export function assertChromium(what: string): void {
  assert.ok(
    fs.existsSync(CHROMIUM),
    `${CHROMIUM} not found: the ${what} test drives a system Chromium through playwright-core ` +
      '(which downloads no browser). Install it, e.g. on Debian/Ubuntu: apt-get install -y chromium',
  );
}

/** A headless Chromium; the caller closes it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}
