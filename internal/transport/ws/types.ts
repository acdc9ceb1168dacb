/** What the transport copied from an upgrade request before any async work. */
export interface UpgradeInfo {
  readonly token: string;
  readonly deviceId: string;
  readonly platform: string;
  readonly clientIp: string;
  /** W3C trace context header of the upgrade request, '' when absent. */
  readonly traceparent: string;
  readonly userAgent: string;
}

/** A WebSocket as the use cases see it: frames out, close. Valid after open; inert after close. */
export interface TransportSocket {
  /**
   * Writes a text frame. false = not written: the socket is closed, or its send buffer went over
   * the limit and it is now being closed with the slow-consumer code.
   */
  send(frame: string | Uint8Array): boolean;
  /** Close frame with code and reason; idempotent. */
  end(code: number, reason: string): void;
  readonly isOpen: boolean;
  /** Runs `fn` with the socket corked, so its sends leave in one syscall. */
  cork(fn: () => void): void;
}

/**
 * The use-case side of the transport. S is whatever the handler decided for one connect request
 * (a session, or a rejection to send after the upgrade).
 */
export interface WsHandler<S> {
  /** Called once per upgrade request after the transport's own checks. Must not reject. */
  upgrade(info: UpgradeInfo): Promise<S>;
  /** The client went away before the upgrade completed: release what `upgrade` reserved. */
  aborted(session: S): void;
  open(session: S, socket: TransportSocket): void;
  /** `data` is valid only during the call (uWS neuters it afterwards). */
  message(session: S, data: ArrayBuffer, isBinary: boolean): void;
  /** The socket is gone (any reason); no send is possible any more. */
  close(session: S, code: number): void;
}

export interface WsTransportSettings {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly maxPayloadBytes: number;
  readonly idleTimeoutMs: number;
  readonly maxBackpressureBytes: number;
  readonly maxConnections: number;
  /** PEM certificate (chain) and private key: serve wss:// (uWS SSLApp). Absent or '' = plain ws://. */
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
  readonly closeCodes: { readonly tooBig: number; readonly idle: number; readonly slow: number; readonly internal: number };
  readonly closeReasons: { readonly tooBig: string; readonly idle: string; readonly slow: string; readonly internal: string };
}

/** Where the transport reports an error thrown by a handler (a bug: logged with its stack, counted). */
export interface FaultSink {
  handlerError(where: string, err: unknown): void;
}
