/**
 * `herald start` as a user runs it, from dist, in a fresh working directory: the first run's keys
 * (made, kept, reused; never in production nor when keys are configured) and its output (JSON
 * lines, or the summary on a terminal). The terminal is a real pseudo-terminal, from util-linux
 * `script`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { generateVapidKeys } from '../../src/channels/webpush/vapid.js';
import type { DevKeys } from '../../src/run/first-run.js';
import { deleteKeys, testPrefix, until } from '../helpers/harness.js';

const CLI = resolve('dist/src/cli.js');
const redisUrl = inject('redisUrl');

interface Running {
  child: ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** The pid to signal: the node process itself, also under `script`. */
  pid(): number;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function workingDirectory(): string {
  const dir = mkdtempSync(join(tmpdir(), 'herald-start-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Starts `herald start` in `cwd` with exactly `env` (and PATH, HOME; the test runner's own
 * NODE_ENV stays out), on a free port, under a fresh prefix of the test Redis.
 */
function startHerald(cwd: string, env: Record<string, string>, options: { terminal?: boolean } = {}): Running {
  const prefix = testPrefix();
  cleanups.push(() => deleteKeys(redisUrl, prefix));
  const environment = { PATH: process.env.PATH ?? '', HOME: cwd, REDIS_URL: redisUrl, HERALD_PREFIX: prefix, HERALD_PORT: '0', ...env };
  const pidFile = join(cwd, 'herald.pid');
  // Under `script` the shell writes its pid, then becomes node (exec), so that pid is Herald's.
  const child = options.terminal
    ? spawn('script', ['-qfec', `echo $$ > ${pidFile}; exec ${process.execPath} ${CLI} start`, '/dev/null'], { cwd, env: environment })
    : spawn(process.execPath, [CLI, 'start'], { cwd, env: environment });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = once(child, 'exit');
  const running: Running = {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    pid: () => (options.terminal ? Number(readFileSync(pidFile, 'utf8')) : child.pid!),
  };
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(running.pid(), 'SIGTERM');
      await exited;
    }
  });
  return running;
}

/** Stops Herald with SIGTERM and waits for it to exit 0. */
async function stop(running: Running): Promise<void> {
  const exited = once(running.child, 'exit');
  process.kill(running.pid(), 'SIGTERM');
  const [code] = await exited;
  expect(code).toBe(0);
}

/** The stdout JSON lines once one of them matches `message`; fails if any line is not JSON. */
async function untilLogged(running: Running, message: RegExp): Promise<Record<string, unknown>[]> {
  return until(
    async () => {
      if (running.child.exitCode !== null) throw new Error(`herald start exited ${running.child.exitCode}: ${running.stderr()}`);
      const complete = running.stdout().slice(0, running.stdout().lastIndexOf('\n') + 1);
      return complete
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    (lines) => lines.some((line) => message.test(String(line.msg))),
    20_000,
  );
}

function apiUrlOf(lines: Record<string, unknown>[]): string {
  const url = lines.find((line) => line.msg === 'API listening')?.url;
  if (typeof url !== 'string') throw new Error('no "API listening" line');
  return url;
}

async function get(url: string, key?: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  return { status: response.status, body: await response.json() };
}

const mode = (path: string) => statSync(path).mode & 0o777;
const VAPID = generateVapidKeys();

describe('herald start, first run', () => {
  it('outside production with nothing configured makes the keys, keeps them private, uses them, and reuses them on the next start', async () => {
    const cwd = workingDirectory();
    const first = startHerald(cwd, {});
    const lines = await untilLogged(first, /^Herald started$/);
    const file = join(cwd, 'data', 'herald-dev.json');
    expect(mode(file)).toBe(0o600);
    expect(mode(join(cwd, 'data'))).toBe(0o700);
    const keys = JSON.parse(readFileSync(file, 'utf8')) as DevKeys;
    const api = apiUrlOf(lines);
    expect(lines.find((line) => String(line.msg).startsWith('first run'))).toMatchObject({ devKeysFile: file, made: true });
    expect(lines.find((line) => line.msg === 'Herald started')).toMatchObject({ url: api, consoleUrl: `${api}/console/`, channels: ['webpush', 'inbox'] });
    // Web Push is on, with the made pair; no warning says it is off, none says the API has no keys.
    expect(lines.map((line) => line.msg)).not.toContainEqual(expect.stringMatching(/Web Push is off|HERALD_API_KEYS is empty/));
    expect(await get(`${api}/v1/webpush/public-key`)).toEqual({ status: 200, body: { publicKey: keys.vapid.publicKey } });
    expect((await get(`${api}/v1/stats`, keys.adminKey)).status).toBe(200);
    expect((await get(`${api}/v1/stats`, keys.publishKey)).status).toBe(403);
    expect((await get(`${api}/v1/stats`)).status).toBe(401);
    // JSON lines never carry the secrets: they name the file.
    for (const secret of [keys.adminKey, keys.publishKey, keys.vapid.privateKey]) expect(first.stdout() + first.stderr()).not.toContain(secret);
    await stop(first);

    const fileBefore = readFileSync(file, 'utf8');
    const second = startHerald(cwd, { NODE_ENV: 'development' });
    const again = await untilLogged(second, /^Herald started$/);
    expect(again.find((line) => String(line.msg).startsWith('using the dev keys'))).toMatchObject({ made: false });
    expect(readFileSync(file, 'utf8')).toBe(fileBefore);
    expect((await get(`${apiUrlOf(again)}/v1/stats`, keys.adminKey)).status).toBe(200);
    await stop(second);
  });

  it.each([
    ['NODE_ENV=production', { NODE_ENV: 'production' }, 409],
    ['only HERALD_API_KEYS set', { HERALD_API_KEYS: 'a1b2c3d4e5f6a7b8c9d0e1f2:admin' }, 409],
    ['only the VAPID variables set', { VAPID_PUBLIC_KEY: VAPID.publicKey, VAPID_PRIVATE_KEY: VAPID.privateKey, VAPID_SUBJECT: 'mailto:ops@example.org' }, 200],
  ])('makes nothing with %s', async (_name, env, publicKeyStatus) => {
    const cwd = workingDirectory();
    const running = startHerald(cwd, env);
    const lines = await untilLogged(running, /^Herald started$/);
    expect(existsSync(join(cwd, 'data'))).toBe(false);
    expect(lines.map((line) => line.msg)).not.toContainEqual(expect.stringMatching(/first run|dev keys/));
    const publicKey = await get(`${apiUrlOf(lines)}/v1/webpush/public-key`);
    expect(publicKey.status).toBe(publicKeyStatus);
    if (publicKeyStatus === 200) expect(publicKey.body).toEqual({ publicKey: VAPID.publicKey });
    await stop(running);
  });

  it('stops with the reason when the kept file cannot be used, and leaves it as it was', async () => {
    const cwd = workingDirectory();
    const first = startHerald(cwd, {});
    await untilLogged(first, /^Herald started$/);
    await stop(first);
    const file = join(cwd, 'data', 'herald-dev.json');
    const keys = JSON.parse(readFileSync(file, 'utf8')) as DevKeys & Record<string, unknown>;
    const broken = `${JSON.stringify({ ...keys, adminKey: 'short' })}\n`;
    rmSync(file);
    writeFileSync(file, broken, { mode: 0o600 });
    const second = startHerald(cwd, {});
    const [code] = await once(second.child, 'exit');
    expect(code).toBe(1);
    expect(second.stderr()).toMatch(/herald-dev\.json \(the keys of the first run\) cannot be used: adminKey must be at least 16 characters/);
    expect(readFileSync(file, 'utf8')).toBe(broken);
  });
});

describe('herald start, output', () => {
  it('on a terminal prints the summary with the first run keys instead of JSON lines', async () => {
    const cwd = workingDirectory();
    const running = startHerald(cwd, {}, { terminal: true });
    await until(
      async () => running.stdout(),
      (text) => text.includes('Logs follow.'),
      20_000,
    );
    const keys = JSON.parse(readFileSync(join(cwd, 'data', 'herald-dev.json'), 'utf8')) as DevKeys;
    const text = running.stdout().replace(/\r\n/g, '\n');
    expect(text).toContain('Herald is running.');
    expect(text).toMatch(/^ {2}Console {3}http:\/\/127\.0\.0\.1:\d+\/console\/$/m);
    expect(text).toMatch(/^ {4}webpush {2}on {3}with the dev VAPID pair$/m);
    expect(text).toMatch(/^ {4}gotify {3}off {2}set GOTIFY_URL/m);
    expect(text).toContain(`admin key         ${keys.adminKey}`);
    expect(text).toContain(`publish key       ${keys.publishKey}`);
    expect(text).not.toContain(keys.vapid.privateKey);
    // Start-up said its piece in the summary: no JSON line, no "API listening" line before it.
    expect(text).not.toMatch(/^\{/m);
    expect(text.slice(0, text.indexOf('Herald is running.'))).not.toMatch(/API listening|worker started/);
    await stop(running);
  });

  it('in production on a terminal keeps JSON lines', async () => {
    const cwd = workingDirectory();
    const running = startHerald(cwd, { NODE_ENV: 'production' }, { terminal: true });
    const lines = await until(
      async () => running.stdout().replace(/\r\n/g, '\n'),
      (text) => /"msg":"Herald started"/.test(text),
      20_000,
    );
    const printed = lines.split('\n').filter(Boolean);
    expect(printed.length).toBeGreaterThan(0);
    for (const line of printed) expect(() => JSON.parse(line)).not.toThrow();
    expect(lines).not.toContain('Herald is running.');
    await stop(running);
  });
});
