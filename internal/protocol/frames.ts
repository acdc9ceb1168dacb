/**
 * The JSON frame codec of SPEC.md section 4: one JSON object per text frame, camelCase keys.
 * Decoding never throws; encoding builds frames as strings once, so a fan-out writes the same
 * string to every recipient.
 */
import { AckCode } from './codes';

/** Room names (SPEC.md section 9): 1 to 128 characters of `A-Z a-z 0-9 _ . : @ / -`. */
export const ROOM_NAME_RE = /^[A-Za-z0-9_.:@/-]{1,128}$/;

/** Control types the gateway owns: never forwarded (error 1001). `ima.*` is reserved too. */
export const RESERVED_TYPES: ReadonlySet<string> = new Set(['auth', 'ack', 'ping', 'pong', 'kick', 'error', 'expiring']);
/** Longest token a refresh frame may carry. */
export const MAX_TOKEN_LENGTH = 8192;
export const MAX_ID_LENGTH = 64;
export const MAX_TYPE_LENGTH = 64;
export const MAX_METADATA_ENTRIES = 32;
/**
 * Deepest JSON nesting a client frame may have, the frame object itself being level 1 (SPEC.md
 * section 8). Checked by a linear scan before JSON.parse, so no frame can make the parser or the
 * re-serialisation of its payload recurse deeply.
 */
export const MAX_JSON_DEPTH = 64;

export type ClientFrame =
  | { readonly kind: 'ping' }
  | {
      readonly kind: 'message';
      readonly type: string;
      readonly id: string;
      /** UTF-8 JSON text of the frame's payload (`null` when absent). */
      readonly payloadJson: string;
      readonly metadata: Readonly<Record<string, string>> | undefined;
    }
  /** `room` null: missing or not a valid room name (answered with ack 1000). */
  | { readonly kind: 'subscribe' | 'unsubscribe'; readonly id: string; readonly room: string | null; readonly recover?: { readonly seq: number; readonly epoch: string } }
  | { readonly kind: 'refresh'; readonly id: string; readonly token: string }
  | { readonly kind: 'invalid'; readonly code: AckCode; readonly id: string | undefined; readonly message: string };

const decoder = new TextDecoder('utf-8', { fatal: true });

function invalid(code: AckCode, id: string | undefined, message: string): ClientFrame {
  return { kind: 'invalid', code, id, message };
}

function isValidId(v: unknown): v is string {
  return typeof v === 'string' && v.length >= 1 && v.length <= MAX_ID_LENGTH;
}

/**
 * The deepest nesting of objects and arrays in `text`, stopping as soon as it passes `limit`
 * (strings and their escapes are skipped). Linear in the text, no allocation.
 */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}

/**
 * Decodes one client frame. Never throws: every input gives a frame or an `invalid` with its code.
 * Binary frames are refused (the protocol is JSON text).
 */
export function decodeClientFrame(data: ArrayBuffer | Uint8Array, isBinary = false): ClientFrame {
  if (isBinary) return invalid(AckCode.MALFORMED, undefined, 'binary frames are not accepted: send JSON text frames');
  let text: string;
  try {
    text = decoder.decode(data);
  } catch {
    return invalid(AckCode.MALFORMED, undefined, 'frame is not valid UTF-8 JSON');
  }
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) return invalid(AckCode.MALFORMED, peekId(text), `frame nests deeper than ${MAX_JSON_DEPTH} levels`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return invalid(AckCode.MALFORMED, undefined, 'frame is not valid UTF-8 JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return invalid(AckCode.MALFORMED, undefined, 'frame must be a JSON object');
  }
  const f = parsed as Record<string, unknown>;
  const type = f['type'];
  const rawId = f['id'];
  const id = isValidId(rawId) ? rawId : undefined;
  if (typeof type !== 'string' || type.length === 0 || type.length > MAX_TYPE_LENGTH) {
    return invalid(AckCode.MALFORMED, id, `missing or invalid "type" (a string of 1 to ${MAX_TYPE_LENGTH} characters)`);
  }
  if (type === 'ping') return PING;
  if (type === 'refresh') {
    if (id === undefined) return invalid(AckCode.MALFORMED, undefined, `missing or invalid "id" (a string of 1 to ${MAX_ID_LENGTH} characters)`);
    const token = f['token'];
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) return invalid(AckCode.MALFORMED, id, `missing or invalid "token" (a string of 1 to ${MAX_TOKEN_LENGTH} characters)`);
    return { kind: 'refresh', id, token };
  }
  if (type === 'subscribe' || type === 'unsubscribe') {
    if (id === undefined) return invalid(AckCode.MALFORMED, undefined, `missing or invalid "id" (a string of 1 to ${MAX_ID_LENGTH} characters)`);
    const room = f['room'];
    const name = typeof room === 'string' && ROOM_NAME_RE.test(room) ? room : null;
    const seq = f['recoverSeq'];
    const epoch = f['recoverEpoch'];
    if (type === 'subscribe' && seq !== undefined) {
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0 || typeof epoch !== 'string' || epoch.length > 64) {
        return invalid(AckCode.MALFORMED, id, '"recoverSeq" must be a non-negative integer with "recoverEpoch" a string');
      }
      return { kind: type, id, room: name, recover: { seq, epoch } };
    }
    return { kind: type, id, room: name };
  }
  if (RESERVED_TYPES.has(type) || type.startsWith('ima.')) {
    return invalid(AckCode.RESERVED_TYPE, id, `type "${type}" is reserved and cannot be sent by clients`);
  }
  if (id === undefined) {
    return invalid(AckCode.MALFORMED, undefined, `missing or invalid "id" (a string of 1 to ${MAX_ID_LENGTH} characters)`);
  }
  let metadata: Record<string, string> | undefined;
  const md = f['metadata'];
  if (md !== undefined && md !== null) {
    if (typeof md !== 'object' || Array.isArray(md)) return invalid(AckCode.MALFORMED, id, '"metadata" must be an object of strings');
    const entries = Object.entries(md as Record<string, unknown>);
    if (entries.length > MAX_METADATA_ENTRIES) return invalid(AckCode.MALFORMED, id, `"metadata" has more than ${MAX_METADATA_ENTRIES} entries`);
    for (const [, v] of entries) {
      if (typeof v !== 'string') return invalid(AckCode.MALFORMED, id, '"metadata" must be an object of strings');
    }
    metadata = md as Record<string, string>;
  }
  const payload = f['payload'];
  let payloadJson: string;
  try {
    payloadJson = payload === undefined ? 'null' : JSON.stringify(payload);
  } catch {
    return invalid(AckCode.MALFORMED, id, '"payload" cannot be serialised');
  }
  return { kind: 'message', type, id, payloadJson, metadata };
}

/** How far `peekId` looks: a client puts `id` near the start; a bounded look costs nothing. */
const PEEK_CHARS = 256;
const PEEK_ID_RE = /"id"\s*:\s*"([^"\\]{1,64})"/;

/**
 * The frame's `id` when it stands as a plain string within the first characters, without parsing
 * the frame (a rate-limited or too-deep frame is answered with its id at a bounded cost).
 */
export function peekId(text: string): string | undefined {
  return PEEK_ID_RE.exec(text.length > PEEK_CHARS ? text.slice(0, PEEK_CHARS) : text)?.[1];
}

/** `peekId` on raw frame bytes: decodes at most the first PEEK_CHARS * 4 bytes. */
export function peekFrameId(data: ArrayBuffer | Uint8Array): string | undefined {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  return peekId(Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, PEEK_CHARS * 4)).toString('utf8'));
}

const PING: ClientFrame = { kind: 'ping' };

// ----- server -> client -----------------------------------------------------------------------

export interface AuthOk {
  readonly userId: string;
  readonly deviceId: string;
  readonly platform: string;
  readonly instanceId: string;
  readonly heartbeatIntervalMs: number;
  /** The user's push stream epoch (recovery on). */
  readonly epoch?: string;
  /** Recovery asked on the upgrade: whether it worked and how many pushes follow. */
  readonly recovered?: boolean;
  readonly missed?: number;
}

export function encodeAuthOk(a: AuthOk): string {
  return JSON.stringify({
    type: 'auth',
    ok: true,
    userId: a.userId,
    deviceId: a.deviceId,
    platform: a.platform,
    instanceId: a.instanceId,
    heartbeatIntervalMs: a.heartbeatIntervalMs,
    ...(a.epoch !== undefined ? { epoch: a.epoch } : {}),
    ...(a.recovered !== undefined ? { recovered: a.recovered, missed: a.missed ?? 0 } : {}),
  });
}

export function encodeAuthFail(code: number, reason: string): string {
  return JSON.stringify({ type: 'auth', ok: false, code, reason });
}

export function encodePong(ts: number): string {
  return `{"type":"pong","ts":${ts}}`;
}

export function encodeAck(id: string, code: number, message?: string, extra?: Readonly<Record<string, unknown>>): string {
  let out = `{"type":"ack","id":${JSON.stringify(id)},"code":${code}`;
  if (message !== undefined && message !== '') out += `,"message":${JSON.stringify(message)}`;
  if (extra !== undefined) for (const [k, v] of Object.entries(extra)) if (v !== undefined) out += `,${JSON.stringify(k)}:${JSON.stringify(v)}`;
  return `${out}}`;
}

/** `{"type":"expiring","expiresAt":MS}`: the token expires then; a `refresh` frame extends it. */
export function encodeExpiring(expiresAt: number): string {
  return `{"type":"expiring","expiresAt":${expiresAt}}`;
}

export function encodeKick(code: number, reason: string): string {
  return JSON.stringify({ type: 'kick', code, reason });
}

export function encodeError(code: number, message: string, id?: string): string {
  return id === undefined ? JSON.stringify({ type: 'error', code, message }) : JSON.stringify({ type: 'error', id, code, message });
}

/** The parts of a ServerMessage a frame is built from. */
export interface OutgoingMessage {
  readonly messageId: string;
  readonly type: string;
  readonly payload: Uint8Array;
  readonly timestamp: number;
  readonly replyTo: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** A room push: the frame carries `"room":R`. */
  readonly room?: string;
}

/**
 * `{"type","id","payload","ts","replyTo"?,"metadata"?}`. A payload that is UTF-8 JSON is embedded
 * as JSON without being re-serialised; any other bytes go as base64 with
 * `"payloadEncoding":"base64"`; an empty payload is `null`.
 */
export function encodeServerMessage(m: OutgoingMessage): string {
  let payloadPart: string;
  if (m.payload.byteLength === 0) {
    payloadPart = '"payload":null';
  } else {
    const json = payloadAsJson(m.payload);
    payloadPart = json !== undefined ? `"payload":${json}` : `"payload":${JSON.stringify(Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength).toString('base64'))},"payloadEncoding":"base64"`;
  }
  let out = `{"type":${JSON.stringify(m.type)},"id":${JSON.stringify(m.messageId)},${payloadPart},"ts":${m.timestamp}`;
  if (m.replyTo !== '') out += `,"replyTo":${JSON.stringify(m.replyTo)}`;
  if (m.room !== undefined) out += `,"room":${JSON.stringify(m.room)}`;
  const md = m.metadata;
  for (const _ in md) {
    out += `,"metadata":${JSON.stringify(md)}`;
    break;
  }
  return `${out}}`;
}

/** The payload's text when it is one valid UTF-8 JSON value, else undefined. */
function payloadAsJson(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return undefined;
  }
  try {
    JSON.parse(text);
  } catch {
    return undefined;
  }
  return text.trim();
}
