/**
 * `herald start` on a machine without Redis: when REDIS_URL is unset and nothing answers on
 * 127.0.0.1:6379, start `redis-server` from PATH with its data under ./data/redis, append-only
 * file on and `noeviction`, the settings Herald needs to lose nothing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { DEFAULT_REDIS_URL } from '../config.js';

/** The server started here is the one Herald uses when REDIS_URL is unset. */
export const LOCAL_REDIS_URL = DEFAULT_REDIS_URL;
const { hostname: LOCAL_HOST, port: LOCAL_PORT } = new URL(LOCAL_REDIS_URL);

export class RedisNotFoundError extends Error {
  constructor() {
    super(
      `Redis is not reachable at ${LOCAL_HOST}:${LOCAL_PORT} and no redis-server is on PATH.\n` +
        '  Install Redis (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)\n' +
        '  or point Herald at your Redis with REDIS_URL=redis://host:6379.',
    );
    this.name = 'RedisNotFoundError';
  }
}

/** True when a Redis server answers PING at `url` within `timeoutMs`. */
export async function redisAnswers(url: string, timeoutMs = 1000): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

export function redisServerOnPath(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface LocalRedis {
  url: string;
  stop(): Promise<void>;
}

/** Starts redis-server on 127.0.0.1:6379 with data in `dataDir`; resolves once it answers. */
export async function startLocalRedis(dataDir = resolve('data/redis')): Promise<LocalRedis> {
  if (!redisServerOnPath()) throw new RedisNotFoundError();
  mkdirSync(dataDir, { recursive: true });
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', LOCAL_PORT, '--bind', LOCAL_HOST, '--dir', dataDir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction', '--save', '', '--daemonize', 'no'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited at start (code ${child.exitCode}); see its output above`);
    if (await redisAnswers(LOCAL_REDIS_URL, 500)) {
      return {
        url: LOCAL_REDIS_URL,
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            // SIGTERM makes redis-server flush its append-only file before exiting.
            child.kill('SIGTERM');
          }),
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('redis-server did not answer within 10 s');
}
