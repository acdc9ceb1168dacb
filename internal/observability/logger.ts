import pino from 'pino';

export type Logger = pino.Logger;

/**
 * Paths removed from every log line, whatever the level: tokens, secrets and authorization
 * headers never reach a log (SPEC.md section 6).
 */
const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'secret',
  '*.secret',
  'apiToken',
  '*.apiToken',
  'password',
  '*.password',
];

/**
 * JSON lines on stdout, one object per line, with `instanceId` on every line; child loggers add
 * userId, deviceId and traceId.
 */
export function createLogger(level: string, instanceId: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { instanceId },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}
