import * as uws from 'uWebSockets.js';

/**
 * The uWebSockets.js build we use silently falls back to a slow JavaScript implementation when its
 * native binary does not load. The native addon exports helpers the fallback lacks (getParts,
 * SSLApp) and is a `.node` module in require.cache.
 */
export function uwsIsNative(): boolean {
  const exportsNative = typeof (uws as unknown as Record<string, unknown>)['getParts'] === 'function';
  const addonLoaded = Object.keys(require.cache).some((k) => k.endsWith('.node') && k.includes('uws'));
  return exportsNative && addonLoaded;
}

export { uws };
