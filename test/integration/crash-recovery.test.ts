import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Harness } from '../helpers/harness.js';

let h: Harness;
let child: ChildProcess | undefined;
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  await h?.close();
});

function spawnWorker(env: Record<string, string>, channels: string): ChildProcess {
  return spawn(process.execPath, ['dist/src/cli.js', 'worker', '--channels', channels], {
    env: { ...process.env, ...env, HERALD_LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
}

describe('a worker killed with SIGKILL', () => {
  it('leaves its in-flight delivery to another worker, which completes it', async () => {
    h = await Harness.create({ env: { HERALD_JOB_LOCK_MS: '1500' } });
    h.gotify.answer({ hang: true });
    child = spawnWorker(h.env, 'gotify');
    const { id } = await h.herald.notify({ to: 'u', message: 'survives a crash' });
    await h.gotify.waitForRequests(1, 15_000);
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect((await h.herald.status(id))?.status).toBe('queued');

    await h.startWorker(['gotify']);
    const final = await h.waitForStatus(id, 'delivered', 15_000);
    // The killed attempt left no record; the provider saw the message twice (at least once).
    expect(final.attempts.map((a) => a.outcome)).toEqual(['delivered']);
    expect(h.gotify.requests).toHaveLength(2);
  });
});
