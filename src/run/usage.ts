/**
 * The usage text of every `herald` command, in one place: `herald --help` lists the commands, and
 * `herald COMMAND --help` (or `-h`, or `herald help COMMAND`) prints one command's usage. The
 * parsers stay with their commands; what they accept is written here.
 */
import { ENV } from '../defaults.js';
import { CHANNEL_NAMES } from '../types.js';

const CONCURRENCY = ENV.HERALD_CONCURRENCY;

export interface CommandUsage {
  /** How the command is called, without the leading `herald `. */
  readonly synopsis: string;
  /** One line for the command list. */
  readonly summary: string;
  /** What the command does, for its own help: lines of at most 100 characters. */
  readonly description: readonly string[];
  /** Its options, `[flag, meaning]`. */
  readonly options?: readonly (readonly [string, string])[];
  /** Subcommands (`herald dlq list`), each with a usage of its own. */
  readonly subcommands?: Readonly<Record<string, CommandUsage>>;
}

export const COMMANDS = {
  start: {
    synopsis: 'start',
    summary: 'API and a worker for every channel (starts redis-server if needed)',
    description: [
      'Runs the HTTP API and a delivery worker for every channel in one process, for one machine.',
      'When REDIS_URL is unset and nothing answers on 127.0.0.1:6379, it starts a private redis-server',
      'from PATH with its data in ./data/redis. `npm start` runs this.',
      'Outside production (NODE_ENV not production) with neither HERALD_API_KEYS nor VAPID_* set, it',
      'makes a publish key, an admin key and a VAPID pair, kept in ./data/herald-dev.json and reused.',
      'On a terminal it prints a summary (URLs, channels, first-run keys) instead of JSON lines.',
    ],
  },
  api: {
    synopsis: 'api',
    summary: 'the HTTP API alone',
    description: ['Runs the HTTP API alone, on HERALD_HOST:HERALD_PORT.'],
  },
  worker: {
    synopsis: 'worker [--channels gotify,webpush,email] [--concurrency N] [--shards 0,2]',
    summary: 'delivery workers alone',
    description: [
      'Runs delivery workers alone. Run any number of them, on any machine that reaches Redis.',
      'Every worker also sends the event webhooks (POST /v1/webhooks), whatever its channels, with',
      'slots of their own (HERALD_EVENT_WEBHOOK_CONCURRENCY; 0 sends none).',
    ],
    options: [
      ['--channels LIST', `the channels to serve, comma separated, of ${CHANNEL_NAMES.join(', ')} (default: all)`],
      ['--concurrency N', `deliveries at once per channel, ${CONCURRENCY.min} to ${CONCURRENCY.max} (default: HERALD_CONCURRENCY)`],
      ['--shards LIST', 'the shards to serve, comma separated, 0 to HERALD_SHARDS-1 (default: all)'],
    ],
  },
  vapid: {
    synopsis: 'vapid',
    summary: 'print a new VAPID key pair',
    description: ['Prints a new VAPID key pair for Web Push as VAPID_PUBLIC_KEY=… and VAPID_PRIVATE_KEY=… lines.'],
  },
  send: {
    synopsis: 'send --to USER --message TEXT [--title T] [--id ID]',
    summary: 'enqueue one notification',
    description: [
      'Enqueues one notification for a registered USER and prints {"id", "status", "duplicate"}.',
      'A smoke test: a notification for an unknown USER ends skipped.',
    ],
    options: [
      ['--to USER', 'the recipient user id'],
      ['--message TEXT', 'the message (Markdown allowed); --message=TEXT for a text that starts with -'],
      ['--title T', 'a title'],
      ['--id ID', 'the idempotency key (generated when absent)'],
    ],
  },
  cancel: {
    synopsis: 'cancel ID',
    summary: 'cancel one pending notification',
    description: [
      'Cancels notification ID if it is still pending (queued, scheduled, or between tries and channels)',
      'and prints its status, now canceled: no attempt starts after this answers. One already handed to',
      'a provider may still arrive. Exits 1 with HERALD_ERR_ALREADY_FINISHED (and its status) when it',
      'has ended already, HERALD_ERR_NOT_FOUND when there is no such notification. A topic notification',
      "is canceled with its recipients' pending notifications, and its fan-out stops.",
    ],
  },
  dlq: {
    synopsis: 'dlq list | dlq replay ID | dlq delete ID',
    summary: 'dead letters',
    description: ['The dead-letter queue from the shell.'],
    subcommands: {
      list: {
        synopsis: 'dlq list',
        summary: 'list dead letters',
        description: ['Prints every dead letter, one a line: id, failedAt, replays and the last attempt (channel:code).'],
      },
      replay: {
        synopsis: 'dlq replay ID',
        summary: 'send a dead letter again',
        description: ['Takes dead letter ID out of the dead-letter queue and sends it again under the same id;', 'prints {"id", "status"}.'],
      },
      delete: {
        synopsis: 'dlq delete ID',
        summary: 'delete a dead letter',
        description: ['Deletes dead letter ID.'],
      },
    },
  },
} as const satisfies Record<string, CommandUsage>;

export type CommandName = keyof typeof COMMANDS;

const HELP_FLAGS = ['--help', '-h'];
const SYNOPSIS_COLUMN = 31;

export function isCommandName(value: string | undefined): value is CommandName {
  return value !== undefined && Object.hasOwn(COMMANDS, value);
}

/** `herald` followed by the synopsis: the line error messages quote. */
export function synopsis(usage: CommandUsage): string {
  return `herald ${usage.synopsis}`;
}

/** The list of every command, for `herald --help`. */
export function overview(): string {
  const lines = Object.values(COMMANDS).map((usage: CommandUsage) => {
    const left = `  ${usage.synopsis}`;
    const gap = left.length < SYNOPSIS_COLUMN ? ' '.repeat(SYNOPSIS_COLUMN - left.length) : `\n${' '.repeat(SYNOPSIS_COLUMN)}`;
    return `${left}${gap}${usage.summary}`;
  });
  return [
    'Usage: herald <command>',
    '',
    ...lines,
    '',
    '`herald <command> --help` shows one command.',
    'Configuration comes from environment variables; see docs/operations.md.',
  ].join('\n');
}

/** One command's usage, for `herald COMMAND --help`. */
export function commandHelp(usage: CommandUsage): string {
  const lines = [`Usage: ${synopsis(usage)}`, '', ...usage.description];
  const subcommands = Object.values(usage.subcommands ?? {});
  if (subcommands.length > 0) lines.push('', 'Commands:', ...subcommands.map((sub) => `  ${synopsis(sub).padEnd(SYNOPSIS_COLUMN - 2)} ${sub.summary}`));
  const options = [...(usage.options ?? []), ['-h, --help', 'show this help'] as const];
  const width = Math.max(...options.map(([flag]) => flag.length)) + 2;
  lines.push('', 'Options:', ...options.map(([flag, meaning]) => `  ${flag.padEnd(width)}${meaning}`));
  return lines.join('\n');
}

/**
 * The help that `argv` (the arguments after `herald`) asks for, or null when it asks for none.
 * A command's help wins over its other arguments, so `herald send --to u --help` prints help and
 * sends nothing; a value that is literally `-h` is written `--message=-h`.
 */
export function helpFor(argv: readonly string[]): string | null {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || HELP_FLAGS.includes(command)) {
    return isCommandName(rest[0]) ? commandHelp(COMMANDS[rest[0]]) : overview();
  }
  if (!isCommandName(command) || !rest.some((arg) => HELP_FLAGS.includes(arg))) return null;
  const usage: CommandUsage = COMMANDS[command];
  const sub = rest[0] !== undefined && usage.subcommands && Object.hasOwn(usage.subcommands, rest[0]) ? usage.subcommands[rest[0]] : undefined;
  return commandHelp(sub ?? usage);
}
