import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { COMMANDS, type CommandUsage, commandHelp, helpFor, overview } from '../../src/run/usage.js';

const CLI = 'dist/src/cli.js';

/** Runs the built `herald` without any Herald setting: help must need neither Redis nor configuration. */
function herald(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH }, timeout: 20_000 });
}

/** Every command and subcommand, as the arguments that name it, with its usage. */
const commands: [string[], CommandUsage][] = Object.entries(COMMANDS).flatMap(([name, usage]: [string, CommandUsage]) => [
  [[name], usage] as [string[], CommandUsage],
  ...Object.entries(usage.subcommands ?? {}).map(([sub, subUsage]) => [[name, sub], subUsage] as [string[], CommandUsage]),
]);

describe('herald --help', () => {
  it('lists every command, and exits 0', () => {
    const run = herald('--help');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(`${overview()}\n`);
    for (const usage of Object.values(COMMANDS)) expect(run.stdout).toContain(`  ${usage.synopsis}`);
    expect(herald('-h').stdout).toBe(run.stdout);
    expect(herald().stdout).toBe(run.stdout);
  });

  it.each(commands.flatMap(([args, usage]) => ['--help', '-h'].map((flag) => [[...args, flag].join(' '), [...args, flag], usage] as const)))(
    'herald %s prints that command’s usage and exits 0',
    (_, args, usage) => {
      const run = herald(...args);
      expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
      expect(run.stdout).toBe(`${commandHelp(usage)}\n`);
      expect(run.stdout.split('\n')[0]).toBe(`Usage: herald ${usage.synopsis}`);
    },
  );

  it('a help flag wins over the other arguments, so nothing is sent', () => {
    const run = herald('send', '--to', 'u-42', '--message', 'hello', '--help');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(`${commandHelp(COMMANDS.send)}\n`);
  });
});

describe('helpFor', () => {
  it('answers the help forms and leaves every other call to its command', () => {
    expect(helpFor([])).toBe(overview());
    expect(helpFor(['help'])).toBe(overview());
    expect(helpFor(['help', 'worker'])).toBe(commandHelp(COMMANDS.worker));
    expect(helpFor(['dlq', 'replay', '-h'])).toBe(commandHelp(COMMANDS.dlq.subcommands.replay));
    expect(helpFor(['dlq', '--help'])).toBe(commandHelp(COMMANDS.dlq));
    expect(helpFor(['send', '--to', 'u', '--message=-h'])).toBeNull();
    expect(helpFor(['worker', '--channels', 'gotify'])).toBeNull();
    expect(helpFor(['bogus', '--help'])).toBeNull();
  });

  it("shows each command's options and the help flag", () => {
    const send = commandHelp(COMMANDS.send);
    for (const [flag] of COMMANDS.send.options) expect(send).toContain(`  ${flag}`);
    expect(send).toContain('-h, --help');
  });
});
