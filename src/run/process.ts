/**
 * Process lifecycle for the `herald` commands: a clear message and exit code when start-up fails,
 * and a graceful stop on SIGTERM / SIGINT (a second signal stops at once).
 */
import type { Logger } from '../logger.js';

/** Prints why the process cannot run and how to fix it, then exits 1. */
export function exitWithError(message: string): never {
  process.stderr.write(`herald: ${message}\n`);
  process.exit(1);
}

/**
 * Runs `stop` on the first SIGTERM or SIGINT and exits 0 once it resolves. `stop` is expected to
 * respect the shutdown deadline itself; `hardLimitMs` only guards against a stop that hangs (for
 * instance Redis gone for good while a delivery waits to record its outcome).
 */
export function stopOnSignal(logger: Logger, hardLimitMs: number, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const guard = setTimeout(() => {
      logger.error({ hardLimitMs }, 'shutdown did not finish in time; exiting');
      process.exit(1);
    }, hardLimitMs);
    guard.unref();
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
