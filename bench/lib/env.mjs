/**
 * The benchmark's world: a private redis-server (no persistence, noeviction) on a free port, the
 * three provider sinks in their own processes, key material (VAPID pair, a browser's P-256
 * subscription keys, a self-signed certificate for the HTTPS push sink), and the environment the
 * `herald` processes run with. Everything listens on 127.0.0.1 only.
 */
import { writeSelfSignedCertificate } from './certificate.mjs';
import { createECDH, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import webpush from 'web-push';
import { forkHelper, spawnProcess } from './procs.mjs';
import { freePort, waitFor } from './util.mjs';

const BENCH_DIR = new URL('..', import.meta.url).pathname;
export const REPO_DIR = new URL('../..', import.meta.url).pathname;
export const CLI = join(REPO_DIR, 'dist/src/cli.js');

export const PREFIX = 'hb';
export const GOTIFY_TOKEN = 'AbenchGotifyTok';
export const API_KEY = 'bench-publish-key-0123456789';

export async function startRedis(workDir) {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const child = spawnProcess(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', '--dir', workDir],
    'redis-server',
    { logFile: join(workDir, 'redis.log') },
  );
  const redis = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 50, lazyConnect: true });
  redis.on('error', () => {});
  await waitFor(
    'redis-server',
    async () => {
      try {
        if (redis.status === 'wait' || redis.status === 'end') await redis.connect();
        return (await redis.ping()) === 'PONG';
      } catch {
        return false;
      }
    },
    10_000,
  );
  const version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  return { url, port, pid: child.pid, child, redis, version };
}

/** A self-signed certificate for 127.0.0.1, trusted by the workers through NODE_EXTRA_CA_CERTS. */
function makeCertificate(workDir) {
  const { keyFile, certFile } = writeSelfSignedCertificate(workDir, { name: 'push-', days: 2 });
  return { keyFile, certFile, key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
}

/** What a browser makes when it subscribes: a P-256 key pair and a 16-byte auth secret. */
function makeBrowserKeys() {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    p256dh: ecdh.getPublicKey().toString('base64url'),
    privateKey: ecdh.getPrivateKey().toString('base64url'),
    auth: randomBytes(16).toString('base64url'),
  };
}

export async function startSinks(workDir) {
  const tls = makeCertificate(workDir);
  const browser = makeBrowserKeys();
  const sinkFile = join(BENCH_DIR, 'sink.mjs');
  const log = join(workDir, 'sinks.log');
  const [gotify, push, smtp] = await Promise.all(['gotify', 'push', 'smtp'].map((kind) => forkHelper(sinkFile, `${kind}-sink`, { logFile: log })));
  const [gotifyPort, pushPort, smtpPort] = await Promise.all([
    gotify.call('start', ['gotify']),
    push.call('start', ['push', { key: tls.key, cert: tls.cert, privateKey: browser.privateKey, auth: browser.auth }]),
    smtp.call('start', ['smtp']),
  ]).then((answers) => answers.map((a) => a.port));
  const vapidKeys = webpush.generateVAPIDKeys();
  return {
    gotify,
    push,
    smtp,
    tls,
    gotifyUrl: `http://127.0.0.1:${gotifyPort}`,
    smtpUrl: `smtp://127.0.0.1:${smtpPort}`,
    subscription: { endpoint: `https://127.0.0.1:${pushPort}/push/bench-browser`, keys: { p256dh: browser.p256dh, auth: browser.auth } },
    vapid: { subject: 'mailto:bench@example.org', publicKey: vapidKeys.publicKey, privateKey: vapidKeys.privateKey },
  };
}

/**
 * This process's environment less every variable Herald reads, so a run does not depend on the
 * caller's shell: the base of every `herald` process's environment.
 */
export function environmentWithoutHerald() {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(HERALD_|REDIS_URL|GOTIFY_|VAPID_|SMTP_URL|MAIL_FROM)/.test(name)));
}

/** Environment of the `herald` processes: every channel configured against the sinks. */
export function heraldEnv(redisUrl, sinks) {
  return {
    ...environmentWithoutHerald(),
    REDIS_URL: redisUrl,
    HERALD_PREFIX: PREFIX,
    HERALD_API_KEYS: `${API_KEY}:publish`,
    HERALD_HOST: '127.0.0.1',
    HERALD_PORT: '0',
    GOTIFY_URL: sinks.gotifyUrl,
    GOTIFY_TOKEN: GOTIFY_TOKEN,
    VAPID_PUBLIC_KEY: sinks.vapid.publicKey,
    VAPID_PRIVATE_KEY: sinks.vapid.privateKey,
    VAPID_SUBJECT: sinks.vapid.subject,
    SMTP_URL: sinks.smtpUrl,
    MAIL_FROM: 'Herald Bench <bench@example.org>',
    HERALD_ALLOW_PRIVATE_ENDPOINTS: '1',
    NODE_EXTRA_CA_CERTS: sinks.tls.certFile,
    HERALD_LOG_LEVEL: 'info',
  };
}

/** A short chat-like message: realistic size for every channel's rendering and encryption. */
export const MESSAGE = 'Alice mentioned you in #release: "Are we still on for the review at 15:00? I pushed the fixes for the flaky upload test."';

/** Notification templates per channel, with explicit targets (no recipient registry lookups). */
export function templates(sinks) {
  return {
    gotify: { message: MESSAGE, priority: 5, channels: ['gotify'], targets: { gotify: { token: GOTIFY_TOKEN } } },
    webpush: { message: MESSAGE, priority: 5, channels: ['webpush'], targets: { webpush: [sinks.subscription] } },
    email: { message: MESSAGE, priority: 5, channels: ['email'], targets: { email: 'alice@example.org' } },
  };
}

export function machineInfo(os, redisVersion) {
  const cpus = os.cpus();
  const bullmq = JSON.parse(readFileSync(join(REPO_DIR, 'node_modules/bullmq/package.json'), 'utf8')).version;
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    redis: redisVersion,
    bullmq,
  };
}

/**
 * Starts `herald api` (with HERALD_PORT=0 in `env`), its output in `logFile`; resolves with the
 * process and the URL it logged once listening.
 */
export async function startHeraldApi(env, logFile) {
  let url;
  const child = spawnProcess(process.execPath, [CLI, 'api'], 'herald api', {
    env,
    logFile,
    onLine: (line) => {
      if (url || !line.includes('API listening')) return;
      try {
        url = JSON.parse(line).url;
      } catch {
        // not a log line
      }
    },
  });
  await waitFor(
    'herald api to listen',
    () => {
      if (child.exitCode !== null) throw new Error(`herald api exited with ${child.exitCode}; see ${logFile}`);
      return url;
    },
    20_000,
  );
  return { url, child };
}
