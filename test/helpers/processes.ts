/** Herald worker processes for tests that kill them or measure them. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';

/** Starts `herald worker` from dist/ with the harness environment. */
export function spawnWorker(env: Record<string, string>, channels = 'gotify,webpush,email'): ChildProcess {
  return spawn(process.execPath, ['dist/src/cli.js', 'worker', '--channels', channels], {
    env: { ...process.env, ...env, HERALD_LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
}

/** SIGKILLs the process unless it already exited, and waits for it. */
export async function killIfRunning(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** Resident memory of a running process, in bytes, as the kernel counts it (Linux `/proc`). */
export function residentBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}
