/**
 * The root pino logger. Redaction is configured here once: every child logger inherits it, so a
 * secret that reaches a log line by accident (a token in a target, a key in a subscription) is
 * censored rather than written.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/** Paths censored in every log line, at the top level and one or two levels down. */
export const REDACT_PATHS = [
  'authorization',
  'apiKey',
  'token',
  'password',
  'privateKey',
  'endpoint',
  'keys',
  'p256dh',
  'auth',
  'smtpUrl',
  'req.headers.authorization',
  'req.headers["x-gotify-key"]',
  '*.token',
  '*.password',
  '*.privateKey',
  '*.endpoint',
  '*.keys',
  '*.authorization',
  '*.*.token',
  '*.*.endpoint',
  '*.*.keys',
];

export interface LoggerOptions {
  level?: string;
  pretty?: boolean;
  /** Where lines go; tests pass a stream to read what was written. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const base = {
    level: options.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'herald' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.destination) return pino(base, options.destination);
  if (options.pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return pino(base);
}
