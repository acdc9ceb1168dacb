/**
 * Identifier generation: gateway instance ids and message ids.
 *
 * Nothing here knows about the gateway; the only inputs are a hostname, a clock and `node:crypto`.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { hostname as osHostname } from 'node:os';

/** Maximum length of the hostname part of an instance id. */
const HOST_PART_MAX = 20;
/** Used when the hostname has no usable character left after sanitising. */
const HOST_FALLBACK = 'host';
/** 36^6: the number of distinct 6-char base36 suffixes. */
const INSTANCE_RANDOM_SPACE = 36 ** 6;

/**
 * Characters an instance id may contain (the whole id matches `INSTANCE_ID_RE`).
 * Lowercase letters, digits and `-` only: safe in Redis keys, Nacos metadata, URLs and log fields.
 */
export const INSTANCE_ID_RE = /^ima-[a-z0-9](?:[a-z0-9-]{0,18}[a-z0-9])?-[a-z0-9]+-[a-z0-9]{6}$/;

/**
 * Reduces a hostname to at most 20 chars of `[a-z0-9-]`: the first DNS label (before the first `.`),
 * lowercased, every run of other characters turned into one `-`, no leading/trailing `-`.
 * Returns `'host'` when nothing usable remains.
 */
export function sanitizeHostname(hostname: string): string {
  const label = hostname.split('.', 1)[0] ?? '';
  const cleaned = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, HOST_PART_MAX)
    .replace(/-+$/, '');
  return cleaned === '' ? HOST_FALLBACK : cleaned;
}

/**
 * Returns a new id for one gateway process: `ima-<host>-<time>-<rand>` where
 * - `<host>` is `sanitizeHostname(hostname)` (defaults to `os.hostname()`), 1..20 chars of `[a-z0-9-]`;
 * - `<time>` is the current `Date.now()` in base36 (distinguishes restarts on the same host);
 * - `<rand>` is 6 base36 chars from a CSPRNG (distinguishes instances started in the same ms, e.g.
 *   several containers sharing a hostname).
 *
 * Every call returns a different value; the result always matches `INSTANCE_ID_RE`.
 */
export function generateInstanceId(hostname: string = osHostname()): string {
  const host = sanitizeHostname(hostname);
  const time = Date.now().toString(36);
  const rand = randomInt(INSTANCE_RANDOM_SPACE).toString(36).padStart(6, '0');
  return `ima-${host}-${time}-${rand}`;
}

/** Crockford base32: ASCII-sorted, so string order of encoded values equals numeric order. */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 11;
const COUNTER_CHARS = 4;
const TAG_CHARS = 8;
/** 32^4: ids available per millisecond before the generator borrows the next millisecond. */
const COUNTER_SPACE = 32 ** COUNTER_CHARS;
/** Every 2-char Crockford string, indexed by its value (0..1023): encodes a counter half in one lookup. */
const PAIRS: readonly string[] = Array.from(
  { length: 1024 },
  (_, i) => (CROCKFORD[i >>> 5] as string) + (CROCKFORD[i & 31] as string),
);

/** Length of every id returned by `IdGenerator.next()`. */
export const MESSAGE_ID_LENGTH = TIME_CHARS + COUNTER_CHARS + TAG_CHARS;
/** Matches a message id (and an explicit node tag must match `NODE_TAG_RE`). */
export const MESSAGE_ID_RE = /^[0-9A-HJKMNP-TV-Z]{23}$/;
export const NODE_TAG_RE = /^[0-9A-HJKMNP-TV-Z]{8}$/;

function encodeTime(ms: number): string {
  let out = '';
  let v = ms;
  for (let i = 0; i < TIME_CHARS; i++) {
    out = (CROCKFORD[v % 32] as string) + out;
    v = Math.floor(v / 32);
  }
  return out;
}

function randomNodeTag(): string {
  const b = randomBytes(5); // 40 bits = 8 chars of 5 bits
  let bits = 0;
  let acc = 0;
  let out = '';
  for (const byte of b) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += CROCKFORD[(acc >>> bits) & 31] as string;
    }
  }
  return out;
}

/**
 * Generates message ids that are unique across gateway instances and ordered by creation time.
 *
 * An id is 23 chars of Crockford base32 (`0-9A-Z` without `I L O U`), `MESSAGE_ID_LENGTH` long:
 * - 11 chars: the millisecond timestamp;
 * - 4 chars: a per-generator counter, 0 at the start of each millisecond (1,048,576 ids per ms); when it
 *   overflows, the generator borrows the next millisecond;
 * - 8 chars: the node tag, fixed for the generator (40 random bits unless given).
 *
 * Guarantees, for one generator: ids strictly increase in plain string comparison (`<`), even when the
 * clock stands still or goes backwards (the generator then keeps counting on its last millisecond, so an
 * id's time part may run slightly ahead of the real clock but never goes back). Across generators,
 * ids differ because their node tags differ (random: collision chance ~2^-40 per pair) and sort by
 * millisecond first.
 *
 * `next()` allocates nothing but the resulting string: the time prefix is re-encoded only when the
 * millisecond changes and the counter is encoded through a lookup table.
 */
export class IdGenerator {
  private readonly tag: string;
  private readonly now: () => number;
  private lastMs = -1;
  private counter = 0;
  private prefix = '';

  /**
   * @param nodeTag 8 Crockford base32 chars (case-insensitive); defaults to a random one.
   *   Throws a `RangeError` if it does not match `NODE_TAG_RE` once uppercased.
   * @param now clock in ms since the epoch; defaults to `Date.now`. Fractions are dropped, negative
   *   values are treated as 0.
   */
  constructor(nodeTag?: string, now: () => number = Date.now) {
    if (nodeTag === undefined) {
      this.tag = randomNodeTag();
    } else {
      const tag = nodeTag.toUpperCase();
      if (!NODE_TAG_RE.test(tag)) {
        throw new RangeError(`IdGenerator: node tag must be 8 Crockford base32 chars, got ${JSON.stringify(nodeTag)}`);
      }
      this.tag = tag;
    }
    this.now = now;
  }

  /** The node tag that ends every id from this generator. */
  get nodeTag(): string {
    return this.tag;
  }

  /** Returns the next id: greater (string compare) than every id this generator returned before. */
  next(): string {
    let t = Math.floor(this.now());
    if (!(t > 0)) t = 0; // negative or NaN
    if (t > this.lastMs) {
      this.lastMs = t;
      this.counter = 0;
      this.prefix = encodeTime(this.lastMs);
    } else if (++this.counter >= COUNTER_SPACE) {
      this.lastMs++;
      this.counter = 0;
      this.prefix = encodeTime(this.lastMs);
    }
    const c = this.counter;
    return this.prefix + (PAIRS[c >>> 10] as string) + (PAIRS[c & 1023] as string) + this.tag;
  }
}

/**
 * The millisecond timestamp encoded in a message id (the borrowed millisecond if the generator overflowed
 * or the clock went back). Returns `undefined` if `id` does not match `MESSAGE_ID_RE`.
 */
export function messageIdTime(id: string): number | undefined {
  if (!MESSAGE_ID_RE.test(id)) return undefined;
  let v = 0;
  for (let i = 0; i < TIME_CHARS; i++) {
    v = v * 32 + CROCKFORD.indexOf(id.charAt(i));
  }
  return v;
}
