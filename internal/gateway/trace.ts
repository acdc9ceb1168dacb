import { randomBytes } from 'node:crypto';

const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const ZERO_TRACE = '0'.repeat(32);

/** The trace id of a W3C `traceparent` header, or undefined when absent or invalid. */
export function parseTraceparent(header: string): string | undefined {
  const m = TRACEPARENT_RE.exec(header.trim().toLowerCase());
  if (m === null || m[1] === undefined || m[1] === ZERO_TRACE || m[2] === '0000000000000000') return undefined;
  return m[1];
}

export function newTraceId(): string {
  return randomBytes(16).toString('hex');
}

const spanPrefix = randomBytes(4).toString('hex');
let spanCounter = 0;

/** A `traceparent` for one outbound call of a trace: a new span id per call, sampled. */
export function traceparentFor(traceId: string): string {
  spanCounter = (spanCounter + 1) >>> 0;
  return `00-${traceId}-${spanPrefix}${spanCounter.toString(16).padStart(8, '0')}-01`;
}
