import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { findOrStartLocalRedis, LocalRedisBusyError, startLocalRedis, withLocalRedisPassword, type LocalRedis } from '../../src/redis/local-server.js';
import { freePort, RedisProcess } from '../helpers/redis-server.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'herald-local-redis-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function started(promise: Promise<LocalRedis>): Promise<LocalRedis> {
  const local = await promise;
  cleanups.push(() => local.stop());
  return local;
}

function client(url: string): Redis {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  cleanups.push(() => redis.disconnect());
  return redis;
}

/** The first line a Redis server answers to one inline command on a fresh connection, as any client would see it. */
function firstReply(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(`${command}\r\n`));
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
      const end = received.indexOf('\r\n');
      if (end >= 0) {
        socket.destroy();
        resolve(received.slice(0, end));
      }
    });
    socket.on('error', reject);
  });
}

/** Every path below `dir` (itself as '.') with its permission bits, e.g. `{ password: 0o600 }`. */
function modes(dir: string, base = dir): Record<string, number> {
  const found: Record<string, number> = { [relative(base, dir) || '.']: statSync(dir).mode & 0o777 };
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) Object.assign(found, modes(path, base));
    else found[relative(base, path)] = statSync(path).mode & 0o777;
  }
  return found;
}

describe('the redis-server `herald start` runs when REDIS_URL is unset', () => {
  it('keeps its data private (0700 / 0600), refuses clients without its password, and keeps the password off its command line', async () => {
    const dataDir = join(tempDir(), 'data', 'redis');
    const port = await freePort();
    const local = await started(startLocalRedis({ dataDir, port }));

    const password = readFileSync(join(dataDir, 'password'), 'utf8').trim();
    expect(password).toMatch(/^[0-9a-f]{64}$/);
    expect(local.url).toBe(`redis://:${password}@127.0.0.1:${port}`);

    const owner = client(local.url);
    await owner.set('k', 'queued notification');
    expect(await owner.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    expect(await owner.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);

    expect(await firstReply(port, 'GET k')).toMatch(/^-NOAUTH /);
    expect(await firstReply(port, `AUTH ${'0'.repeat(64)}`)).toMatch(/^-WRONGPASS /);
    expect(await firstReply(port, `AUTH ${password}`)).toBe('+OK');

    const found = modes(dataDir);
    expect(Object.keys(found)).toEqual(expect.arrayContaining(['.', 'password', expect.stringMatching(/\.aof$/)]));
    for (const [path, mode] of Object.entries(found)) {
      const isDir = statSync(join(dataDir, path)).isDirectory();
      expect({ path, mode: mode.toString(8) }).toEqual({ path, mode: isDir ? '700' : '600' });
    }
    expect(statSync(join(dataDir, '..')).mode & 0o777).toBe(0o700);

    const commandLine = readFileSync(`/proc/${local.pid}/cmdline`, 'utf8');
    expect(commandLine).toContain('redis-server');
    expect(commandLine).not.toContain(password);
  });

  it('reuses its password and its data on the next start', async () => {
    const dataDir = join(tempDir(), 'redis');
    const port = await freePort();
    const first = await startLocalRedis({ dataDir, port });
    await client(first.url).set('kept', 'across restarts');
    await first.stop();

    const second = await started(startLocalRedis({ dataDir, port }));
    expect(second.url).toBe(first.url);
    expect(await client(second.url).get('kept')).toBe('across restarts');
  });

  it('tightens a data directory an earlier start left readable to others', async () => {
    const dataDir = join(tempDir(), 'redis');
    mkdirSync(join(dataDir, 'appendonlydir'), { recursive: true, mode: 0o755 });
    writeFileSync(join(dataDir, 'appendonlydir', 'old.aof'), '', { mode: 0o644 });
    await started(startLocalRedis({ dataDir, port: await freePort() }));
    expect(modes(dataDir)).toMatchObject({ '.': 0o700, appendonlydir: 0o700, 'appendonlydir/old.aof': 0o600, password: 0o600 });
  });

  it('uses the server already on the address: its own (with the password) or an open Redis; never starts a second one', async () => {
    const dataDir = join(tempDir(), 'redis');
    const port = await freePort();
    const own = await started(startLocalRedis({ dataDir, port }));
    const again = await findOrStartLocalRedis({ dataDir, port });
    expect(again).toMatchObject({ url: own.url, pid: null });
    await again.stop();
    expect(await client(own.url).ping()).toBe('PONG');

    const open = new RedisProcess(await freePort(), tempDir());
    await open.start();
    cleanups.push(() => open.stop());
    const shared = await findOrStartLocalRedis({ dataDir, port: open.port });
    expect(shared).toMatchObject({ url: open.url, pid: null });
  });

  it('refuses an address taken by something that is not a Redis it can use, and says what to do', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => resolve());
        }),
    );
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const error = await findOrStartLocalRedis({ dataDir: join(tempDir(), 'redis'), port }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(LocalRedisBusyError);
    expect((error as Error).message).toContain('REDIS_URL');
  });

  it('gives other commands the password when REDIS_URL is unset, and leaves an explicit REDIS_URL alone', () => {
    const dataDir = tempDir();
    const unset = { redisUrl: 'redis://127.0.0.1:6379', redisUrlExplicit: false };
    expect(withLocalRedisPassword(unset, dataDir)).toEqual(unset);
    writeFileSync(join(dataDir, 'password'), `${'ab'.repeat(32)}\n`, { mode: 0o600 });
    expect(withLocalRedisPassword(unset, dataDir).redisUrl).toBe(`redis://:${'ab'.repeat(32)}@127.0.0.1:6379`);
    const explicit = { redisUrl: 'redis://redis.internal:6379', redisUrlExplicit: true };
    expect(withLocalRedisPassword(explicit, dataDir)).toEqual(explicit);
  });
});
