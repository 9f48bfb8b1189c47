/** `herald dlq list | replay ID | delete ID`: the dead-letter queue from the shell. */
import type { Config } from '../config.js';
import { exitWithError } from './process.js';
import { heraldFromConfig } from './api.js';
import { COMMANDS, synopsis } from './usage.js';

const { dlq } = COMMANDS;

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
        if (!id) exitWithError(`usage: ${synopsis(dlq.subcommands.replay)}`);
        process.stdout.write(`${JSON.stringify(await herald.deadLetters.replay(id))}\n`);
        return;
      case 'delete':
        if (!id) exitWithError(`usage: ${synopsis(dlq.subcommands.delete)}`);
        await herald.deadLetters.delete(id);
        process.stdout.write(`deleted ${id}\n`);
        return;
      default:
        exitWithError(`usage: ${Object.values(dlq.subcommands).map(synopsis).join(' | ')}`);
    }
  } finally {
    await herald.close();
  }
}
