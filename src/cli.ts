#!/usr/bin/env node
/**
 * The `herald` command. `npm start` runs `herald start`: the API and a worker for every channel in
 * one process, with a local redis-server when none is configured or running.
 *
 * Each command lives in src/run/*-command.ts and is loaded only when it runs, so `herald --help`
 * and `herald vapid` answer without loading Fastify, BullMQ or a Redis client. Usage texts are in
 * src/run/usage.ts.
 */
import { generateVapidKeys } from './channels/webpush/vapid.js';
import { HeraldError } from './errors.js';
import { exitWithError } from './run/process.js';
import { helpFor, isCommandName, overview, type CommandName } from './run/usage.js';

const COMMANDS: Record<CommandName, (argv: string[]) => Promise<void>> = {
  start: async () => (await import('./run/start-command.js')).runStart(),
  api: async () => (await import('./run/api-command.js')).runApi(),
  worker: async (argv) => (await import('./run/worker-command.js')).runWorker(argv),
  vapid: async () => {
    const keys = generateVapidKeys();
    process.stdout.write(`VAPID_PUBLIC_KEY=${keys.publicKey}\nVAPID_PRIVATE_KEY=${keys.privateKey}\n`);
  },
  send: async (argv) => (await import('./run/send-command.js')).runSend(argv),
  cancel: async (argv) => (await import('./run/cancel-command.js')).runCancel(argv),
  dlq: async (argv) => {
    const [{ runDlq }, { loadSettings }] = await Promise.all([import('./run/dlq-command.js'), import('./run/load-settings.js')]);
    return runDlq(loadSettings().config, argv);
  },
};

async function main(argv: string[]): Promise<void> {
  const help = helpFor(argv);
  if (help !== null) {
    process.stdout.write(`${help}\n`);
    return;
  }
  const [command, ...rest] = argv;
  if (!isCommandName(command)) exitWithError(`unknown command "${command}"\n\n${overview()}`);
  return COMMANDS[command](rest);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof HeraldError)
    exitWithError(`${err.code}: ${err.message}${err.details.length ? `\n${err.details.map((d) => `  - ${d.field}: ${d.message}`).join('\n')}` : ''}`);
  exitWithError(err instanceof Error ? err.message : String(err));
});
