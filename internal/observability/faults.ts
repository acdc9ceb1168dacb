import type { Logger } from './logger';

export type FaultKind = 'uncaught_exception' | 'unhandled_rejection' | 'handler_error';

/**
 * Errors that escaped the code meant to handle them. Each is a bug: it is logged at error level
 * with its stack and counted (`/stats` internalErrors, `ima_internal_errors_total{kind}`), and the
 * instance keeps serving (one bad frame or call must not drop every connection).
 */
export class FaultCounter {
  readonly counts: Record<FaultKind, number> = { uncaught_exception: 0, unhandled_rejection: 0, handler_error: 0 };

  constructor(private readonly log: Logger) {}

  record(kind: FaultKind, err: unknown, where?: string): void {
    this.counts[kind]++;
    const e = err instanceof Error ? err : new Error(String(err));
    this.log.error({ fault: kind, where, err: { message: e.message, stack: e.stack } }, 'internal error (bug): logged and counted, instance keeps serving');
  }

  /** FaultSink of the WebSocket transport. */
  handlerError(where: string, err: unknown): void {
    this.record('handler_error', err, where);
  }

  /** Catches what escapes everything else. Returns a function that removes the handlers. */
  installProcessHandlers(proc: NodeJS.Process = process): () => void {
    const onException = (e: unknown): void => this.record('uncaught_exception', e);
    const onRejection = (e: unknown): void => this.record('unhandled_rejection', e);
    proc.on('uncaughtException', onException);
    proc.on('unhandledRejection', onRejection);
    return () => {
      proc.off('uncaughtException', onException);
      proc.off('unhandledRejection', onRejection);
    };
  }
}
