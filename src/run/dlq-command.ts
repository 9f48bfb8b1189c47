/** `herald dlq list | replay ID | delete ID`: the dead-letter queue from the shell. */
import type { Config } from '../config.js';
import { exitWithError } from './process.js';
import { heraldFromConfig } from './api.js';

export async function runDlq(config: Config, argv: string[]): Promise<void> {
  const [action, id] = argv;
  const herald = heraldFromConfig(config);
  try {
    switch (action) {
      case 'list': {
        let cursor: string | undefined;
        do {
          const page = await herald.deadLetters.list({ limit: 100, ...(cursor ? { cursor } : {}) });
          for (const letter of page.items) {
            const last = letter.attempts.at(-1);
            process.stdout.write(
              `${letter.id}\t${letter.failedAt}\treplays=${letter.replays}\t${last ? `${last.channel}:${last.code ?? last.outcome}` : ''}\n`,
            );
          }
          cursor = page.next ?? undefined;
        } while (cursor);
        return;
      }
      case 'replay':
        if (!id) exitWithError('usage: herald dlq replay ID');
        process.stdout.write(`${JSON.stringify(await herald.deadLetters.replay(id))}\n`);
        return;
      case 'delete':
        if (!id) exitWithError('usage: herald dlq delete ID');
        await herald.deadLetters.delete(id);
        process.stdout.write(`deleted ${id}\n`);
        return;
      default:
        exitWithError('usage: herald dlq list | herald dlq replay ID | herald dlq delete ID');
    }
  } finally {
    await herald.close();
  }
}
