/**
 * Logs on a terminal, for `herald start` outside production: readable lines (pino-pretty, written
 * as they come) instead of JSON. Until the start-up summary is printed, only warnings and errors
 * go through: the info lines of start-up ("API listening", "worker started") say what the summary
 * says, in a form meant for machines.
 */
import pinoPretty from 'pino-pretty';
import { createLogger, type Logger } from '../logger.js';

/** pino's level number of `warn`: lines below it wait for the summary (and are dropped). */
const WARN_LEVEL = 40;

/** Passes lines on; before `open()`, only those at `warn` or above. */
export class StartupQuietDestination {
  private opened = false;
  constructor(private readonly next: { write(line: string): unknown }) {}

  open(): void {
    this.opened = true;
  }

  write(line: string): void {
    if (this.opened || levelOf(line) >= WARN_LEVEL) this.next.write(line);
  }
}

/** The level of a pino JSON line; a line that is not one counts as a warning, so it is never hidden. */
function levelOf(line: string): number {
  try {
    const level = (JSON.parse(line) as { level?: unknown }).level;
    return typeof level === 'number' ? level : WARN_LEVEL;
  } catch {
    return WARN_LEVEL;
  }
}

export interface TerminalLogger {
  logger: Logger;
  /** Lets every line through from now on: call it once the summary is printed. */
  started(): void;
}

export function terminalLogger(level: string): TerminalLogger {
  const pretty = pinoPretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' });
  const destination = new StartupQuietDestination(pretty);
  return { logger: createLogger({ level, destination }), started: () => destination.open() };
}
