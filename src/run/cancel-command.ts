/** `herald cancel ID`: cancel one pending notification from the shell. */
import { heraldFromConfig } from './api.js';
import { loadSettings } from './load-settings.js';
import { exitWithError } from './process.js';
import { COMMANDS, synopsis } from './usage.js';

export async function runCancel(argv: string[]): Promise<void> {
  const [id, ...extra] = argv;
  if (!id || extra.length > 0) exitWithError(`usage: ${synopsis(COMMANDS.cancel)}`);
  const herald = heraldFromConfig(loadSettings().config);
  try {
    // A notification that has ended, or is unknown, throws HeraldError: cli.ts prints its code,
    // message and details (the status it ended in) and exits 1.
    process.stdout.write(`${JSON.stringify(await herald.cancel(id))}\n`);
  } finally {
    await herald.close();
  }
}
