/**
 * The codes of SPEC.md section 4: WebSocket close codes, and the ack / error frame codes.
 * Business services' own HandleMessageResponse.code values pass through unchanged.
 */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  BAD_REQUEST: 4000,
  REPLACED: 4001,
  KICKED: 4002,
  TOKEN_EXPIRED: 4003,
  HEARTBEAT_TIMEOUT: 4004,
  SLOW_CONSUMER: 4005,
  AUTH_FAILED: 4401,
  AUTH_UNAVAILABLE: 4503,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

export const AckCode = {
  ACCEPTED: 0,
  MALFORMED: 1000,
  RESERVED_TYPE: 1001,
  RATE_LIMITED: 1003,
  PAYLOAD_TOO_LARGE: 1004,
  BUSINESS_UNAVAILABLE: 2000,
  /** An in-band token refresh refused (invalid, another user, or auth unavailable): the current expiry stays. */
  REFRESH_REJECTED: 1005,
  BUSINESS_TIMEOUT: 2001,
  /** A room subscription refused (`rooms.clientSubscribe` deny, or the business service said no). */
  SUBSCRIBE_DENIED: 3000,
  /** Too many rooms on this connection (`rooms.maxPerConnection`). */
  TOO_MANY_ROOMS: 3001,
} as const;
export type AckCode = (typeof AckCode)[keyof typeof AckCode];

/** Short close reasons (a close frame's reason is limited to 123 bytes). */
export const CLOSE_REASON: Readonly<Record<CloseCode, string>> = {
  1000: 'normal closure',
  1001: 'gateway shutting down',
  1008: 'rate limit exceeded',
  1009: 'frame too large',
  1011: 'internal error',
  4000: 'bad connect request',
  4001: 'replaced by another login',
  4002: 'kicked',
  4003: 'token expired',
  4004: 'heartbeat timeout',
  4005: 'slow consumer',
  4401: 'authentication failed',
  4503: 'auth service unavailable',
};

/** Longest close reason a close frame carries: 125 bytes of payload less the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * `reason` cut to at most MAX_CLOSE_REASON_BYTES of UTF-8, on a character boundary, so the close
 * frame stays valid UTF-8 (a client rejects a frame cut mid-character and reports 1006).
 */
export function closeReason(text: string): string {
  // a lone surrogate is not UTF-8: the client would refuse the frame (1006), so it becomes U+FFFD
  const reason = text.replace(/\p{Cs}/gu, '\uFFFD');
  if (reason.length <= MAX_CLOSE_REASON_BYTES / 3) return reason; // fits whatever its characters
  const bytes = Buffer.from(reason, 'utf8');
  if (bytes.length <= MAX_CLOSE_REASON_BYTES) return reason;
  let end = MAX_CLOSE_REASON_BYTES;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--; // back off continuation bytes
  return bytes.subarray(0, end).toString('utf8');
}

/** Platforms accepted in the connect request (SPEC.md section 4). */
export const PLATFORMS = ['ios', 'android', 'windows', 'macos', 'linux', 'web', 'ipad', 'apad', 'miniweb'] as const;
export type Platform = (typeof PLATFORMS)[number];

const PLATFORM_SET: ReadonlySet<string> = new Set(PLATFORMS);
export function isPlatform(value: string): value is Platform {
  return PLATFORM_SET.has(value);
}
