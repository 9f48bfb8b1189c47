/** `herald send --to USER --message TEXT [--title T] [--id ID]`: enqueue one notification (a smoke test). */
import { parseArgs } from 'node:util';
import { heraldFromConfig } from './api.js';
import { loadSettings } from './load-settings.js';
import { exitWithError } from './process.js';

export async function runSend(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { to: { type: 'string' }, message: { type: 'string' }, title: { type: 'string' }, id: { type: 'string' } },
    strict: true,
  });
  if (!values.to || !values.message) exitWithError('send needs --to USER and --message TEXT');
  const { config: cfg } = loadSettings();
  const herald = heraldFromConfig(cfg);
  try {
    const result = await herald.notify({
      to: values.to,
      message: values.message,
      ...(values.title ? { title: values.title } : {}),
      ...(values.id ? { id: values.id } : {}),
    });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await herald.close();
  }
}
