export type { TopicPublisher, TransportSocket, UpgradeInfo, WsHandler } from '../../gateway/ports';

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
  /** Files served over plain HTTP GET on the WebSocket port (the client SDK, the demo page), by path. */
  readonly files?: ReadonlyMap<string, StaticFile>;
}

export interface StaticFile {
  readonly contentType: string;
  readonly body: Uint8Array;
}

/** Where the transport reports an error thrown by a handler (a bug: logged with its stack, counted). */
export interface FaultSink {
  handlerError(where: string, err: unknown): void;
}
