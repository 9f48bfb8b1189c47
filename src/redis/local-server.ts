/**
 * `herald start` on a machine without Redis: when REDIS_URL is unset and nothing answers on
 * 127.0.0.1:6379, start `redis-server` from PATH with its data under ./data/redis, append-only
 * file on and `noeviction`, the settings Herald needs to lose nothing.
 *
 * That server is private to the user who runs Herald, because its append-only file holds every
 * queued notification, address and Gotify token:
 * - the data directory is 0700 and everything in it 0600 (files and directories 0700): redis-server
 *   runs under umask 077, and what an earlier start left with laxer modes is tightened first;
 * - it requires a password, made once and kept in data/redis/password (0600), reused on every
 *   start. The password reaches redis-server on its standard input, never on its command line,
 *   which every local user can read.
 * A password rather than a unix socket in a 0700 directory: the server stays at the address the
 * contract names (127.0.0.1:6379), so a second `herald start` finds it and uses it instead of
 * starting another server on the same files; every other command reaches it with an ordinary
 * redis:// URL (and finds the password by itself, see `withLocalRedisPassword`); and it works
 * wherever the checkout lives, where a socket path is limited to about 100 bytes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { StartupErrorCode } from '../codes.js';
import { DEFAULT_REDIS_URL } from '../defaults.js';

/** Where the server started here listens: the address Herald uses when REDIS_URL is unset. */
const { hostname: LOCAL_HOST, port: DEFAULT_LOCAL_PORT } = new URL(DEFAULT_REDIS_URL);
/** Relative to the working directory, like every path of `herald start`. */
export const LOCAL_DATA_DIR = 'data/redis';
const PASSWORD_FILE = 'password';
/** 32 random bytes, hex: nothing to escape in a URL or in redis.conf. */
const PASSWORD_PATTERN = /^[0-9a-f]{64}$/;
const PRIVATE_DIR_MODE = 0o700;
const PRIVATE_FILE_MODE = 0o600;

export class RedisNotFoundError extends Error {
  readonly code: StartupErrorCode = 'HERALD_ERR_REDIS_NOT_FOUND';
  constructor(port = Number(DEFAULT_LOCAL_PORT)) {
    super(
      `Redis is not reachable at ${LOCAL_HOST}:${port} and no redis-server is on PATH.\n` +
        '  Install Redis (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)\n' +
        '  or point Herald at your Redis with REDIS_URL=redis://host:6379.',
    );
    this.name = 'RedisNotFoundError';
  }
}

/** Something listens on the local Redis address that Herald can neither use nor replace. */
export class LocalRedisBusyError extends Error {
  readonly code: StartupErrorCode = 'HERALD_ERR_REDIS_ADDRESS_TAKEN';
  constructor(port: number) {
    super(
      `${LOCAL_HOST}:${port} is taken by a server Herald cannot use: it is not Redis, or it asks for a password Herald does not have.\n` +
        `  Set REDIS_URL (e.g. redis://:PASSWORD@${LOCAL_HOST}:${port}) or stop that server.`,
    );
    this.name = 'LocalRedisBusyError';
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

export interface LocalRedisOptions {
  /** Default ./data/redis. */
  dataDir?: string;
  /** Default 6379; tests use a free port. */
  port?: number;
}

export interface LocalRedis {
  /** With the password: hand it only to Redis clients, never to logs. */
  url: string;
  /** The redis-server process when it was started here; null when one was already running. */
  pid: number | null;
  /** Stops the server if it was started here (it flushes its append-only file first). */
  stop(): Promise<void>;
}

/** `redis://:password@127.0.0.1:port`, or without a password. */
export function localRedisUrl(password: string | null, port = Number(DEFAULT_LOCAL_PORT)): string {
  return `redis://${password ? `:${password}@` : ''}${LOCAL_HOST}:${port}`;
}

/** The password `herald start` keeps for its own redis-server, or null when it never made one. */
export function readLocalRedisPassword(dataDir = resolve(LOCAL_DATA_DIR)): string | null {
  try {
    const password = readFileSync(join(dataDir, PASSWORD_FILE), 'utf8').trim();
    return PASSWORD_PATTERN.test(password) ? password : null;
  } catch {
    return null;
  }
}

/**
 * With REDIS_URL unset, every `herald` command talks to 127.0.0.1:6379; when `herald start` made
 * its own server there (its password file exists), the URL gets that password, so `herald send`,
 * `herald dlq` and extra workers reach it as they would an open local Redis.
 */
export function withLocalRedisPassword<C extends { redisUrl: string; redisUrlExplicit: boolean }>(config: C, dataDir = resolve(LOCAL_DATA_DIR)): C {
  if (config.redisUrlExplicit) return config;
  const password = readLocalRedisPassword(dataDir);
  return password ? Object.freeze({ ...config, redisUrl: localRedisUrl(password) }) : config;
}

/**
 * The local Redis for `herald start` with REDIS_URL unset: the one already answering on the local
 * address (Herald's own from an earlier start, or an open Redis such as a system service), else a
 * new redis-server started here.
 */
export async function findOrStartLocalRedis(options: LocalRedisOptions = {}): Promise<LocalRedis> {
  const dataDir = options.dataDir ?? resolve(LOCAL_DATA_DIR);
  const port = options.port ?? Number(DEFAULT_LOCAL_PORT);
  if (!(await portTaken(port))) return startLocalRedis({ dataDir, port });
  const password = readLocalRedisPassword(dataDir);
  // Without the password first: a server that answers so is open (not ours, which requires it).
  for (const url of [localRedisUrl(null, port), ...(password ? [localRedisUrl(password, port)] : [])]) {
    if (await redisAnswers(url)) return { url, pid: null, stop: () => Promise.resolve() };
  }
  throw new LocalRedisBusyError(port);
}

/** Starts a private redis-server on 127.0.0.1:`port` with data in `dataDir`; resolves once it answers. */
export async function startLocalRedis(options: LocalRedisOptions = {}): Promise<LocalRedis> {
  const dataDir = options.dataDir ?? resolve(LOCAL_DATA_DIR);
  const port = options.port ?? Number(DEFAULT_LOCAL_PORT);
  if (!redisServerOnPath()) throw new RedisNotFoundError(port);
  makePrivate(dataDir);
  const password = readLocalRedisPassword(dataDir) ?? newPassword(dataDir);
  const url = localRedisUrl(password, port);
  const settings = [
    '--port',
    String(port),
    '--bind',
    LOCAL_HOST,
    '--dir',
    dataDir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--maxmemory-policy',
    'noeviction',
    '--save',
    '',
    '--daemonize',
    'no',
  ];
  // `-` reads more configuration from standard input: the password, kept off the command line.
  // The shell sets the umask, then becomes redis-server (exec), so the pid is the server's.
  const child = spawn('sh', ['-c', 'umask 077 && exec redis-server "$@"', 'redis-server', '-', ...settings], { stdio: ['pipe', 'ignore', 'inherit'] });
  let failed: Error | undefined;
  child.once('error', (err) => (failed = err));
  // A server that exits at once closes its input early; the exit says why, the write need not.
  child.stdin.on('error', () => {});
  child.stdin.end(`requirepass ${password}\n`);
  const exited = new Promise<void>((done) => {
    child.once('exit', () => done());
    child.once('error', () => done());
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (failed) throw new Error(`cannot start redis-server (${failed.message})`);
    if (child.exitCode !== null) throw new Error(`redis-server exited at start (code ${child.exitCode}); see its output above`);
    if (await redisAnswers(url, 500)) {
      return {
        url,
        pid: child.pid ?? null,
        stop: () => {
          // SIGTERM makes redis-server flush its append-only file before exiting.
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          return exited;
        },
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('redis-server did not answer within 10 s');
}

/** True when something accepts TCP connections on the local address and `port`. */
function portTaken(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: LOCAL_HOST, port });
    socket.setTimeout(1000);
    const finish = (taken: boolean) => {
      socket.destroy();
      done(taken);
    };
    socket.once('connect', () => finish(true));
    socket.once('timeout', () => finish(false));
    socket.once('error', () => finish(false));
  });
}

/**
 * Creates `dir` (0700) or tightens it: every directory below it 0700, every file 0600. Symbolic
 * links are left alone (chmod would follow them out of the directory).
 */
function makePrivate(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const tighten = (path: string) => {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return;
    if (stat.isDirectory()) {
      chmodSync(path, PRIVATE_DIR_MODE);
      for (const name of readdirSync(path)) tighten(join(path, name));
    } else {
      chmodSync(path, PRIVATE_FILE_MODE);
    }
  };
  tighten(dir);
}

function newPassword(dataDir: string): string {
  const password = randomBytes(32).toString('hex');
  const file = join(dataDir, PASSWORD_FILE);
  writeFileSync(file, `${password}\n`, { mode: PRIVATE_FILE_MODE });
  // `mode` applies only when the file is created; an unreadable or malformed one is replaced.
  chmodSync(file, PRIVATE_FILE_MODE);
  return password;
}
