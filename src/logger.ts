/**
 * The root pino logger. Redaction is configured here once: every child logger inherits it, so a
 * secret that reaches a log line by accident (a token in a target, a key in a subscription) is
 * censored rather than written. JSON lines go to stdout through a bounded destination: a reader
 * that stops reading costs dropped lines, counted and reported, never memory or a stuck exit.
 */
import { pino, type Logger, type DestinationStream } from 'pino';
import { BoundedDestination, stdoutDestination } from './log-destination.js';

export type { Logger } from 'pino';

/**
 * Field names whose value is a secret wherever it sits: API keys (`authorization`, `apiKeys`,
 * `secret`), Gotify tokens (`token`, `defaultToken`), the VAPID private key (`privateKey`), SMTP
 * credentials (`smtpUrl`, `password`, `pass`, nodemailer's `auth`), Redis URLs (may hold a
 * password), and Web Push subscriptions (`endpoint` is a capability URL; `keys`, `p256dh`, `auth`).
 */
const SECRET_FIELDS = [
  'authorization',
  'apiKey',
  'apiKeys',
  'secret',
  'token',
  'defaultToken',
  'password',
  'pass',
  'privateKey',
  'smtpUrl',
  'redisUrl',
  'endpoint',
  'keys',
  'p256dh',
  'auth',
  // The same secrets as environment variables, should an environment ever be logged.
  'HERALD_API_KEYS',
  'GOTIFY_TOKEN',
  'VAPID_PRIVATE_KEY',
  'SMTP_URL',
  'REDIS_URL',
  'NTFY_TOKEN',
  'HERALD_WEBHOOK_SECRET',
];
/** Secrets under a name that is harmless elsewhere: header names, and the URL of the SMTP settings. */
const SECRET_PATHS = ['headers["x-gotify-key"]', 'smtp.url'];
/**
 * How many levels down a secret is found: a notification's `targets.webpush[i].endpoint` inside a
 * logged object sits five levels deep. pino's redaction matches exact paths only (no recursive
 * wildcard), so every depth is listed.
 */
const REDACT_DEPTH = 5;

/**
 * How an error is written: pino's standard form, except for what a Redis reply error carries.
 * ioredis puts the failed command on it (`command.args`): the raw arguments of a script, which
 * hold a notification's content, a recipient's subscription keys or a delivery token by position,
 * where no field name can redact them; only the command's name and argument count are kept. A
 * transaction Redis refused (EXECABORT) carries the replies that made it refuse
 * (`previousErrors`), which say why and which pino would write as empty objects: their messages
 * are kept, one line each.
 */
export function serializeError(err: unknown): unknown {
  const serialized = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  if (!serialized || typeof serialized !== 'object') return serialized;
  const command = describeCommand(serialized.command);
  if (command) serialized.command = command;
  const previous = (err as { previousErrors?: unknown }).previousErrors;
  if (Array.isArray(previous)) {
    serialized.previousErrors = previous.map((e) => {
      const message = e instanceof Error ? e.message : String(e);
      const name = describeCommand((e as { command?: unknown } | null)?.command)?.name;
      return name ? `${name}: ${message}` : message;
    });
  }
  return serialized;
}

function describeCommand(command: unknown): { name: string; argCount: number } | undefined {
  if (!command || typeof command !== 'object') return undefined;
  const { name, args } = command as { name?: unknown; args?: unknown };
  if (typeof name !== 'string') return undefined;
  return { name, argCount: Array.isArray(args) ? args.length : 0 };
}

function atEveryDepth(path: string): string[] {
  return Array.from({ length: REDACT_DEPTH }, (_, depth) => `${'*.'.repeat(depth)}${path}`);
}

/** Paths censored in every log line, child bindings included. */
export const REDACT_PATHS = [...SECRET_FIELDS, ...SECRET_PATHS].flatMap(atEveryDepth);

export interface LoggerOptions {
  level?: string;
  pretty?: boolean;
  /** Where lines go (stdout by default); tests pass a stream to read what was written. */
  destination?: DestinationStream | BoundedDestination;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const base = {
    level: options.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError },
    base: { service: 'herald' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.pretty && !options.destination) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } },
    });
  }
  const destination = options.destination ?? stdoutDestination();
  const logger = pino(base, destination);
  // The first logger on a destination tells of its gaps; a second would only say it twice.
  if (destination instanceof BoundedDestination) {
    destination.onDrained ??= (dropped) => logger.warn({ droppedLines: dropped, droppedLinesTotal: destination.droppedLines }, `${dropped} log lines dropped`);
  }
  return logger;
}
