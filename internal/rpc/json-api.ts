import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import type { BroadcastRequestOutput } from '../../api/gen/im/gateway/v1/BroadcastRequest';
import type { ConnectionStatusRequestOutput } from '../../api/gen/im/gateway/v1/ConnectionStatusRequest';
import type { KickUserRequestOutput } from '../../api/gen/im/gateway/v1/KickUserRequest';
import type { PushRequestOutput } from '../../api/gen/im/gateway/v1/PushRequest';
import type { RoomMembershipRequestOutput } from '../../api/gen/im/gateway/v1/RoomMembershipRequest';
import type { RoomPushRequestOutput } from '../../api/gen/im/gateway/v1/RoomPushRequest';
import type { RoomStatusRequestOutput } from '../../api/gen/im/gateway/v1/RoomStatusRequest';
import type { ServerMessageOutput } from '../../api/gen/im/gateway/v1/ServerMessage';
import type { Result } from '../../pkg/result';
import { err, ok } from '../../pkg/result';
import type { AdminHandler, AdminPreflight, AdminRequest, AdminResponse } from '../transport/http/server';
import { json } from '../transport/http/server';
import type { Logger } from '../observability/logger';
import type { ApiError, CallContext, CallGuard, GatewayApi, GatewayMethod } from './api';
import { GATEWAY_METHODS, GATEWAY_SERVICE, httpStatusOf, invalidArgument } from './api';
import { protoPath } from './proto';

/** Where main.ts mounts the handler: `admin.routePrefix('POST', JSON_API_PREFIX, handler)`. */
export const JSON_API_PREFIX = `/${GATEWAY_SERVICE}/`;

/** Deadline of a call without `grpc-timeout`. */
export const DEFAULT_JSON_DEADLINE_MS = 30_000;

/** setTimeout cannot wait longer than this; a longer deadline is not enforced by a timer. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * What the handlers receive: the shape @grpc/proto-loader gives the gRPC server (see
 * PROTO_LOADER_OPTIONS), so both transports hand the handlers identical requests.
 */
const REQUEST_OBJECT_OPTIONS: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};

/** proto3 JSON with defaults emitted: int64 as strings, enums as names, bytes as base64. */
const RESPONSE_OBJECT_OPTIONS: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: String,
  defaults: true,
  arrays: true,
  objects: true,
  json: true,
};

/** The error body of every failure: gRPC code number, its name and a message safe to show. */
export interface JsonApiErrorBody {
  readonly code: number;
  readonly status: string;
  readonly message: string;
}

export function errorBody(e: ApiError): JsonApiErrorBody {
  const name = (grpc.status as unknown as Record<number, string | undefined>)[e.code] ?? 'UNKNOWN';
  return { code: e.code, status: name, message: e.message };
}

function errorResponse(httpStatus: number, e: ApiError): AdminResponse {
  return json(httpStatus, errorBody(e));
}

function apiErrorResponse(e: ApiError): AdminResponse {
  return errorResponse(httpStatusOf(e.code), e);
}

/**
 * `grpc-timeout` (gRPC over HTTP/2: up to 8 digits and a unit, H M S m u n) -> milliseconds,
 * rounded up; null when malformed.
 */
export function parseGrpcTimeout(value: string): number | null {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value.trim());
  if (m === null) return null;
  const n = Number(m[1]);
  switch (m[2]) {
    case 'H':
      return n * 3_600_000;
    case 'M':
      return n * 60_000;
    case 'S':
      return n * 1000;
    case 'm':
      return n;
    case 'u':
      return Math.ceil(n / 1000);
    default:
      return Math.ceil(n / 1_000_000);
  }
}

/** HTTP headers as CallContext headers: lowercased names, the first value of each. */
export function callHeaders(headers: AdminRequest['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    const first = Array.isArray(v) ? v[0] : v;
    if (typeof first === 'string') out[k.toLowerCase()] = first;
  }
  return out;
}

/** `application/json` with an optional UTF-8 charset, or no content-type at all. */
function acceptableContentType(value: string | undefined): boolean {
  if (value === undefined || value.trim() === '') return true;
  const [type, ...params] = value.split(';');
  if ((type ?? '').trim().toLowerCase() !== 'application/json') return false;
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    if (p.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    const charset = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') return false;
  }
  return true;
}

/** A request body that is not valid proto3 JSON for the method's input type. */
class JsonInputError extends Error {}

interface MethodTypes {
  readonly request: protobuf.Type;
  readonly response: protobuf.Type;
}

/**
 * The contract through protobufjs reflection, loaded once per process. Field names are
 * lowerCamel (protobufjs' default, as proto-loader); `protoNames` maps each field to the name
 * written in the .proto (snake_case), which proto3 JSON parsers accept too.
 */
class Contract {
  readonly methods = new Map<string, MethodTypes>();
  private readonly jsonNames = new Map<protobuf.Type, Map<string, protobuf.Field>>();

  constructor() {
    const file = protoPath();
    const root = protobuf.loadSync(file);
    root.resolveAll();
    const protoNamed = new protobuf.Root().loadSync(file, { keepCase: true });
    protoNamed.resolveAll();
    const service = root.lookupService(GATEWAY_SERVICE);
    for (const method of GATEWAY_METHODS) {
      const m = service.methods[method];
      if (m === undefined) throw new Error(`${GATEWAY_SERVICE}/${method} missing from ${file}`);
      m.resolve();
      if (m.resolvedRequestType === null || m.resolvedResponseType === null) throw new Error(`${GATEWAY_SERVICE}/${method}: unresolved types`);
      this.methods.set(method, { request: m.resolvedRequestType, response: m.resolvedResponseType });
    }
    const visit = (t: protobuf.Type): void => {
      if (this.jsonNames.has(t)) return;
      const names = new Map<string, protobuf.Field>();
      this.jsonNames.set(t, names);
      const original = protoNamed.lookupType(t.fullName);
      for (const f of t.fieldsArray) {
        names.set(f.name, f);
        const o = original.fieldsById[f.id];
        if (o !== undefined) names.set(o.name, f);
        if (f.resolvedType instanceof protobuf.Type) visit(f.resolvedType);
      }
    };
    for (const { request, response } of this.methods.values()) {
      visit(request);
      visit(response);
    }
  }

  /** Accepted JSON keys of a message type -> field. */
  fieldsOf(t: protobuf.Type): Map<string, protobuf.Field> {
    const names = this.jsonNames.get(t);
    if (names === undefined) throw new Error(`unknown message type ${t.fullName}`);
    return names;
  }
}

let contract: Contract | undefined;

function loadContract(): Contract {
  if (contract === undefined) contract = new Contract();
  return contract;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function integerOf(v: unknown, path: string, min: bigint, max: bigint): bigint {
  let n: bigint;
  if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
  // at most 20 digits after leading zeros: an int64 never has more, and BigInt of a huge digit string costs seconds
  else if (typeof v === 'string' && /^-?0*\d{1,20}$/.test(v.trim())) n = BigInt(v.trim());
  else throw new JsonInputError(`${path}: integer expected`);
  if (n < min || n > max) throw new JsonInputError(`${path}: integer out of range`);
  return n;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$|^[A-Za-z0-9_-]*={0,2}$/;

/**
 * One proto3 JSON value of a (non-repeated) field -> the form protobufjs' fromObject takes:
 * int64 as decimal strings, bytes as Buffers, enums as names or numbers, messages normalised.
 */
function scalarValue(c: Contract, field: protobuf.Field, type: string, resolved: protobuf.Type | protobuf.Enum | null, v: unknown, path: string): unknown {
  if (resolved instanceof protobuf.Type) {
    if (!isPlainObject(v)) throw new JsonInputError(`${path}: object expected`);
    return normaliseMessage(c, resolved, v, path);
  }
  if (resolved instanceof protobuf.Enum) {
    if (typeof v === 'string') {
      if (!Object.prototype.hasOwnProperty.call(resolved.values, v)) throw new JsonInputError(`${path}: unknown ${resolved.name} value "${v}"`);
      return v;
    }
    if (typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) return v;
    throw new JsonInputError(`${path}: ${resolved.name} name expected`);
  }
  switch (type) {
    case 'string':
      if (typeof v !== 'string') throw new JsonInputError(`${path}: string expected`);
      return v;
    case 'bool':
      if (typeof v !== 'boolean') throw new JsonInputError(`${path}: boolean expected`);
      return v;
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return Number(integerOf(v, path, -(2n ** 31n), 2n ** 31n - 1n));
    case 'uint32':
    case 'fixed32':
      return Number(integerOf(v, path, 0n, 2n ** 32n - 1n));
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return integerOf(v, path, INT64_MIN, INT64_MAX).toString();
    case 'uint64':
    case 'fixed64':
      return integerOf(v, path, 0n, UINT64_MAX).toString();
    case 'double':
    case 'float':
      if (typeof v === 'number') return v;
      if (v === 'NaN') return NaN;
      if (v === 'Infinity') return Infinity;
      if (v === '-Infinity') return -Infinity;
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
      throw new JsonInputError(`${path}: number expected`);
    case 'bytes':
      if (typeof v !== 'string' || !BASE64.test(v) || v.replace(/=+$/, '').length % 4 === 1) throw new JsonInputError(`${path}: base64 string expected`);
      return Buffer.from(v, 'base64');
    default:
      throw new JsonInputError(`${path}: unsupported field type ${type} (${field.name})`);
  }
}

function mapKey(keyType: string, k: string, path: string): string {
  switch (keyType) {
    case 'string':
      return k;
    case 'bool':
      if (k !== 'true' && k !== 'false') throw new JsonInputError(`${path}: map key "${k}" is not a boolean`);
      return k;
    default:
      if (!/^-?\d+$/.test(k)) throw new JsonInputError(`${path}: map key "${k}" is not an integer`);
      return k;
  }
}

/**
 * A proto3 JSON object of message type `t` -> an object protobufjs' fromObject reads: keys in
 * lowerCamel whichever of lowerCamel / proto names the caller used (recursively through message,
 * repeated and map-of-message fields; map keys verbatim), values type-checked. Rejects unknown
 * fields (naming them), a field given under both names and several members of one oneof.
 * `null` means the field's default, as in proto3 JSON.
 */
function normaliseMessage(c: Contract, t: protobuf.Type, obj: Record<string, unknown>, prefix: string): Record<string, unknown> {
  const fields = c.fieldsOf(t);
  const out: Record<string, unknown> = {};
  const seen = new Set<string>();
  for (const key of Object.keys(obj)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    const field = fields.get(key);
    if (field === undefined) throw new JsonInputError(`unknown field "${path}" in ${t.fullName.replace(/^\./, '')}`);
    if (seen.has(field.name)) throw new JsonInputError(`field "${path}" given more than once`);
    seen.add(field.name);
    const v = obj[key];
    if (v === null || v === undefined) continue;
    if (field.map) {
      if (!isPlainObject(v)) throw new JsonInputError(`${path}: object expected`);
      const keyType = (field as unknown as protobuf.MapField).keyType;
      const m: Record<string, unknown> = {};
      for (const [k, mv] of Object.entries(v)) {
        if (mv === null) throw new JsonInputError(`${path}["${k}"]: null map value`);
        m[mapKey(keyType, k, path)] = scalarValue(c, field, field.type, field.resolvedType, mv, `${path}["${k}"]`);
      }
      out[field.name] = m;
    } else if (field.repeated) {
      if (!Array.isArray(v)) throw new JsonInputError(`${path}: array expected`);
      out[field.name] = v.map((e: unknown, i) => {
        if (e === null) throw new JsonInputError(`${path}[${i}]: null element`);
        return scalarValue(c, field, field.type, field.resolvedType, e, `${path}[${i}]`);
      });
    } else {
      out[field.name] = scalarValue(c, field, field.type, field.resolvedType, v, path);
    }
  }
  for (const oneof of t.oneofsArray) {
    const set = oneof.fieldsArray.filter((f) => out[f.name] !== undefined);
    if (set.length > 1) throw new JsonInputError(`${prefix === '' ? '' : `${prefix}: `}oneof ${oneof.name} has several fields set (${set.map((f) => f.name).join(', ')})`);
  }
  return out;
}

/** Drops absent (null) message fields from a toObject result: proto3 JSON leaves them out. */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, e] of Object.entries(v)) if (e !== null) out[k] = dropNulls(e);
  return out;
}


const INTERNAL: ApiError = { code: grpc.status.INTERNAL, message: 'internal error' };

/**
 * IMAGatewayService over HTTP/JSON (Triple's HTTP form) on the admin port:
 * `POST /im.gateway.v1.IMAGatewayService/<Method>` with a proto3 JSON body, for curl and
 * non-gRPC backends. Same handlers and CallGuard as the gRPC server.
 *
 * - unknown method: 404 with `{code: 12, status: "UNIMPLEMENTED"}` (the path names no method;
 *   a service version / group mismatch from the guard is 501, as httpStatusOf says);
 * - then the CallGuard on the HTTP headers (lowercased, first value): 401 / 501;
 * - content-type `application/json` (charset utf-8 optional) or none, else 415; an empty body is
 *   `{}`; a body that is not a JSON object, an unknown field (named in the message), a wrongly typed
 *   value: 400 INVALID_ARGUMENT. lowerCamel and proto (snake_case) field names are both accepted;
 *   map keys are kept verbatim;
 * - malformed `grpc-timeout`: 400; the deadline is `grpc-timeout` from now, else 30 s; a handler
 *   still running at the deadline gets 504 DEADLINE_EXCEEDED (as gRPC cancels the call);
 * - success: 200 with the response in proto3 JSON (lowerCamel, int64 as strings, enums as names,
 *   bytes as base64, default values present, absent message fields left out);
 * - an ApiError: its httpStatusOf status; a handler that throws: 500 INTERNAL "internal error",
 *   the error logged, never shown.
 * Every error body is `{code, status, message}` (gRPC code number, its name, message).
 */
export function createJsonApiHandler(api: GatewayApi, guard: CallGuard, log: Logger): AdminHandler {
  const c = loadContract();
  // one entry per method; `request` was decoded by that method's protobuf type, hence its shape
  const dispatch: { readonly [M in GatewayMethod]: (request: unknown, ctx: CallContext) => Promise<Result<unknown, ApiError>> } = {
    PushToUser: (r, ctx) => api.PushToUser(r as PushRequestOutput, ctx),
    PushToUsers: (r, ctx) => api.PushToUsers(r as PushRequestOutput, ctx),
    Broadcast: (r, ctx) => api.Broadcast(r as BroadcastRequestOutput, ctx),
    KickUser: (r, ctx) => api.KickUser(r as KickUserRequestOutput, ctx),
    GetConnectionStatus: (r, ctx) => api.GetConnectionStatus(r as ConnectionStatusRequestOutput, ctx),
    JoinRoom: (r, ctx) => api.JoinRoom(r as RoomMembershipRequestOutput, ctx),
    LeaveRoom: (r, ctx) => api.LeaveRoom(r as RoomMembershipRequestOutput, ctx),
    PushToRoom: (r, ctx) => api.PushToRoom(r as RoomPushRequestOutput, ctx),
    GetRoomStatus: (r, ctx) => api.GetRoomStatus(r as RoomStatusRequestOutput, ctx),
  };
  return async (req: AdminRequest): Promise<AdminResponse> => {
    if (req.method !== 'POST') {
      return { ...errorResponse(405, { code: grpc.status.UNIMPLEMENTED, message: `${req.method} not allowed: use POST` }), headers: { allow: 'POST' } };
    }
    const name = req.path.startsWith(JSON_API_PREFIX) ? req.path.slice(JSON_API_PREFIX.length) : '';
    const method = (GATEWAY_METHODS as readonly string[]).includes(name) ? (name as GatewayMethod) : null;
    const types = method === null ? undefined : c.methods.get(method);
    if (method === null || types === undefined) {
      return errorResponse(404, { code: grpc.status.UNIMPLEMENTED, message: `unknown method ${req.path} (methods: ${GATEWAY_METHODS.join(', ')})` });
    }

    const headers = callHeaders(req.headers);
    const denied = guard.check(method, headers);
    if (denied !== null) return apiErrorResponse(denied);

    if (!acceptableContentType(headers['content-type'])) {
      return errorResponse(415, { code: grpc.status.INVALID_ARGUMENT, message: `content-type must be application/json, got ${headers['content-type'] ?? ''}` });
    }

    let deadline = Date.now() + DEFAULT_JSON_DEADLINE_MS;
    const timeoutHeader = headers['grpc-timeout'];
    if (timeoutHeader !== undefined) {
      const ms = parseGrpcTimeout(timeoutHeader);
      if (ms === null) return apiErrorResponse(invalidArgument('grpc-timeout', `malformed value "${timeoutHeader}" (digits and one of H M S m u n)`));
      deadline = Date.now() + ms;
    }

    let request: unknown;
    try {
      request = decodeRequest(c, types.request, req.body);
    } catch (e) {
      if (e instanceof JsonInputError) return apiErrorResponse({ code: grpc.status.INVALID_ARGUMENT, message: e.message });
      throw e;
    }

    if (deadline <= Date.now()) return apiErrorResponse({ code: grpc.status.DEADLINE_EXCEEDED, message: 'deadline exceeded before the call started' });
    const ctx: CallContext = { headers, deadline };
    let result: { ok: boolean; value?: unknown; error?: ApiError };
    try {
      const call = Promise.resolve(dispatch[method](request, ctx));
      const outcome = await withDeadline(call, deadline);
      if (outcome === DEADLINE) {
        // The handler goes on (as a gRPC handler whose call was cancelled); a later failure is logged.
        void call.catch((e: unknown) => log.error({ err: e, method }, 'push API handler failed after its deadline'));
        return apiErrorResponse({ code: grpc.status.DEADLINE_EXCEEDED, message: 'deadline exceeded' });
      }
      result = outcome;
    } catch (e) {
      log.error({ err: e, method }, 'push API handler failed');
      return apiErrorResponse(INTERNAL);
    }
    if (!result.ok) {
      if (result.error === undefined) {
        log.error({ method }, 'push API handler failed without an error');
        return apiErrorResponse(INTERNAL);
      }
      return apiErrorResponse(result.error);
    }
    try {
      const msg = types.response.fromObject(result.value as Record<string, unknown>);
      return json(200, dropNulls(types.response.toObject(msg, RESPONSE_OBJECT_OPTIONS)));
    } catch (e) {
      log.error({ err: e, method }, 'push API response not encodable');
      return apiErrorResponse(INTERNAL);
    }
  };
}

/** The body as the handler's request, in proto-loader's decoded shape. */
function decodeRequest(c: Contract, type: protobuf.Type, body: Buffer): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new JsonInputError('body is not UTF-8');
  }
  let parsed: unknown = {};
  if (text.trim() !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new JsonInputError('body is not valid JSON');
    }
  }
  if (!isPlainObject(parsed)) throw new JsonInputError(`body must be a JSON object (${type.name})`);
  const normalised = normaliseMessage(c, type, parsed, '');
  return type.toObject(type.fromObject(normalised), REQUEST_OBJECT_OPTIONS);
}

/**
 * A `ServerMessage` from its proto3 JSON text (the pub/sub ingress's messages), in the shape the
 * push API takes (defaults filled, payload as bytes); an error text when it is not one.
 */
export function decodeServerMessageJson(text: string): Result<ServerMessageOutput, string> {
  const c = loadContract();
  const type = c.methods.get('PushToUser')?.request.fields['message']?.resolvedType;
  if (!(type instanceof protobuf.Type)) throw new Error('ServerMessage missing from the contract');
  try {
    return ok(decodeRequest(c, type, Buffer.from(text, 'utf8')) as ServerMessageOutput);
  } catch (e) {
    if (e instanceof JsonInputError) return err(e.message);
    throw e;
  }
}

const DEADLINE = Symbol('deadline');

function withDeadline<T>(p: Promise<T>, deadline: number): Promise<T | typeof DEADLINE> {
  const wait = deadline - Date.now();
  if (wait > MAX_TIMER_MS) return p;
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<typeof DEADLINE>((resolve) => {
    timer = setTimeout(() => resolve(DEADLINE), Math.max(0, wait));
  });
  // A handler failing after the deadline has been answered must not become an unhandled rejection.
  void p.catch(() => undefined);
  return Promise.race([p, expiry]).finally(() => clearTimeout(timer));
}

/**
 * The checks of the HTTP/JSON form that need no body (method, path, the CallGuard's credentials),
 * run by the admin server before it reads the body: an unauthenticated client is refused (401)
 * without the server buffering what it sends.
 */
export function createJsonApiPreflight(guard: CallGuard): AdminPreflight {
  return (req) => {
    if (req.method !== 'POST') return null; // the handler answers 405
    const name = req.path.startsWith(JSON_API_PREFIX) ? req.path.slice(JSON_API_PREFIX.length) : '';
    if (!(GATEWAY_METHODS as readonly string[]).includes(name)) return null; // the handler answers 404
    const denied = guard.check(name, callHeaders(req.headers));
    return denied === null ? null : apiErrorResponse(denied);
  };
}
