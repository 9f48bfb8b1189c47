/**
 * The only module that reads `process.env`. `loadConfig` turns the environment into one frozen,
 * typed Config, or throws a ConfigError that lists every bad variable at once (so an operator fixes
 * them in one go instead of one restart per typo).
 */
import { createECDH } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { smtpTlsProblem } from './channels/email/smtp-tls.js';
import type { StartupErrorCode } from './codes.js';
import { CHANNEL_NAMES, isChannelName, type ChannelName } from './types.js';
import type { GotifySettings } from './channels/gotify.js';
import type { VapidSettings } from './channels/webpush/vapid.js';
import type { SmtpSettings } from './channels/email/channel.js';

/** A numeric setting's default and the range it must lie in. */
export interface Bounds {
  readonly default: number;
  readonly min: number;
  readonly max: number;
}

// Settings that the SDK takes as options too: the environment variable and the option share these
// defaults and bounds (each constant names both).

/** Where Redis is when neither REDIS_URL nor the SDK's `redis` option says. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** Key prefix (HERALD_PREFIX, prefix); producers and workers must share it. */
export const DEFAULT_PREFIX = 'herald';
/** What a prefix may hold: it is part of every key, BullMQ's included. */
export const PREFIX_PATTERN = /^[A-Za-z0-9_{}.-]{1,64}$/;
export const PREFIX_RULE = '1-64 characters of letters, digits, _ . - { }';

/** How long concurrent notify calls may wait for company (HERALD_ENQUEUE_LINGER_MS, enqueueLingerMs). */
export const ENQUEUE_LINGER_MS: Bounds = { default: 5, min: 0, max: 1000 };
/** How long a status record and its idempotency key are kept (HERALD_STATUS_RETENTION_SECONDS, statusRetentionSeconds). */
export const STATUS_RETENTION_SECONDS: Bounds = { default: 7 * 86_400, min: 60, max: 365 * 86_400 };
/** How long dead letters are kept (HERALD_DEAD_LETTER_RETENTION_SECONDS, deadLetterRetentionSeconds). */
export const DEAD_LETTER_RETENTION_SECONDS: Bounds = { default: 30 * 86_400, min: 60, max: 365 * 86_400 };
/** Web Push subscriptions kept per user (HERALD_WEBPUSH_MAX_SUBSCRIPTIONS, webpushMaxSubscriptions). */
export const WEBPUSH_MAX_SUBSCRIPTIONS: Bounds = { default: 20, min: 1, max: 1000 };

/**
 * App schemes (HERALD_APP_SCHEMES, appSchemes): the URL schemes besides `https:` a notification's
 * `url` may use. They name an app's own deep links (`mesh://room/1`); schemes that belong to the
 * web, the browser or the operating system cannot be listed, because `url` becomes a click target
 * and Gotify Android opens it when the message arrives.
 */
const REFUSED_APP_SCHEMES: ReadonlyMap<string, string> = new Map([
  ['http', 'click targets must be https:'],
  ...['javascript', 'vbscript', 'data', 'blob', 'about', 'view-source', 'filesystem'].map((s): [string, string] => [
    s,
    'it runs or shows content in the browser instead of opening an app',
  ]),
  ...['file', 'smb', 'ftp', 'nfs', 'afp'].map((s): [string, string] => [s, 'it opens files or network shares (and may hand over credentials)']),
  ...['intent', 'android-app', 'content'].map((s): [string, string] => [s, 'it starts Android components or reads their data rather than opening one app']),
  ['search-ms', 'Windows handlers (search-ms, ms-*) have been used to run code from a click'],
  ['shell', 'it opens system locations'],
]);

/** Why `scheme` cannot be an app scheme, or null when it can. `scheme` is written without `:`. */
export function appSchemeProblem(scheme: string): string | null {
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) return `"${scheme}" is not a URL scheme: a letter, then letters, digits, + . or -, written without ":"`;
  const reason = REFUSED_APP_SCHEMES.get(scheme) ?? (scheme.startsWith('ms-') ? REFUSED_APP_SCHEMES.get('search-ms')! : undefined);
  return reason ? `"${scheme}" cannot be an app scheme: ${reason}` : null;
}

/** App schemes lower-cased (schemes are case-insensitive), without `https`, which is always allowed. */
export function normalizeAppSchemes(schemes: readonly string[]): string[] {
  return [...new Set(schemes.map((s) => s.trim().toLowerCase()))].filter((s) => s !== 'https');
}

export type ApiScope = 'publish' | 'admin';

export interface ApiKey {
  secret: string;
  scope: ApiScope;
}

export type { GotifySettings, VapidSettings, SmtpSettings };

export interface Config {
  redisUrl: string;
  /** False when REDIS_URL was not set: `herald start` may then start a local redis-server. */
  redisUrlExplicit: boolean;
  prefix: string;
  host: string;
  port: number;
  apiKeys: readonly ApiKey[];
  gotify: GotifySettings | null;
  vapid: VapidSettings | null;
  smtp: SmtpSettings | null;
  defaultChannels: readonly ChannelName[];
  /** Tries per channel for transient failures. */
  maxAttempts: number;
  backoffMs: number;
  backoffMaxMs: number;
  allowPrivateEndpoints: boolean;
  /** URL schemes besides https: that a notification's `url` may use (lower case, without `:`). */
  appSchemes: readonly string[];
  shutdownMs: number;
  /** How long status records (and so idempotency keys) are kept after a notification ends. */
  statusRetentionSeconds: number;
  /** How long dead letters are kept. */
  deadLetterRetentionSeconds: number;
  /** Deadline of one request to a provider (Gotify, push service, SMTP). */
  providerTimeoutMs: number;
  /** Deliveries one worker runs at once, per channel. */
  concurrency: Readonly<Record<ChannelName, number>>;
  /** Web Push subscriptions kept per user; the oldest is dropped past this. */
  webpushMaxSubscriptions: number;
  /** How long concurrent notify calls may wait for company in the API's enqueue transactions, in ms. */
  enqueueLingerMs: number;
  /** Worker threads that encrypt Web Push payloads in a worker process; 0 encrypts in the event loop. */
  webpushCryptoThreads: number;
  /**
   * How long a worker's claim on a job lasts without renewal. A worker that dies holding a job
   * releases it after this long; then another worker runs it again.
   */
  jobLockMs: number;
  logLevel: string;
  logPretty: boolean;
}

export class ConfigError extends Error {
  readonly code: StartupErrorCode = 'HERALD_ERR_CONFIG';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface LoadedConfig {
  config: Config;
  /** Non-fatal notes for the operator, e.g. a channel switched off for lack of settings. */
  warnings: string[];
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

type Env = Record<string, string | undefined>;

/** Collects problems while reading variables, so that every bad one is reported together. */
class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  string(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      this.problems.push(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  }

  /** A whole number within `bounds`, or its default when unset. */
  bounded(name: string, bounds: Bounds): number {
    return this.integer(name, bounds.default, bounds.min, bounds.max);
  }

  flag(name: string): boolean {
    const raw = this.string(name);
    if (raw === undefined) return false;
    if (['1', 'true', 'yes'].includes(raw.toLowerCase())) return true;
    if (['0', 'false', 'no'].includes(raw.toLowerCase())) return false;
    this.problems.push(`${name} must be 1 or 0 (got "${raw}")`);
    return false;
  }

  url(name: string, protocols: string[]): string | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      // Never echo the value: URLs such as SMTP_URL carry passwords.
      this.problems.push(`${name} is not a valid URL`);
      return undefined;
    }
    if (!protocols.includes(parsed.protocol)) {
      this.problems.push(`${name} must start with ${protocols.map((p) => `${p}//`).join(' or ')}`);
      return undefined;
    }
    return raw;
  }

  channelList(name: string, fallback: readonly ChannelName[]): ChannelName[] {
    const raw = this.string(name);
    if (raw === undefined) return [...fallback];
    const names = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = names.filter((n) => !isChannelName(n));
    if (bad.length > 0 || names.length === 0) {
      this.problems.push(`${name} must list channels among ${CHANNEL_NAMES.join(', ')} (got "${raw}")`);
      return [...fallback];
    }
    return [...new Set(names as ChannelName[])];
  }
}

/** Words of the documentation's and examples' placeholder keys, compared without punctuation. */
const PLACEHOLDER_WORDS = ['changeme', 'replaceme', 'example', 'placeholder', 'yourkey', 'yoursecret', 'yourapikey'];

/**
 * Why an API key secret is too weak to guard the API, or null. A secret is sent in a header, so
 * it must be visible ASCII without spaces; it must be long, made of more than a handful of
 * characters, not one short pattern repeated, and not a placeholder copied from an example.
 */
export function weakSecretProblem(secret: string): string | null {
  if (!/^[\x21-\x7e]*$/.test(secret)) return 'must be visible ASCII characters without spaces';
  if (secret.length < 16) return 'must be at least 16 characters';
  const compact = secret.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (PLACEHOLDER_WORDS.some((word) => compact.includes(word))) return 'is a placeholder from an example';
  if (new Set(secret).size < 6) return 'uses fewer than 6 different characters';
  for (let period = 1; period <= secret.length / 2; period++) {
    if ([...secret].every((c, i) => i < period || c === secret[i - period])) return 'repeats a short pattern';
  }
  return null;
}

function readApiKeys(reader: EnvReader): ApiKey[] {
  const raw = reader.string('HERALD_API_KEYS');
  if (raw === undefined) return [];
  const keys: ApiKey[] = [];
  const firstEntry = new Map<string, number>();
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .forEach((pair, index) => {
      const separator = pair.lastIndexOf(':');
      const secret = separator > 0 ? pair.slice(0, separator) : '';
      const scope = separator > 0 ? pair.slice(separator + 1) : '';
      // Report the position, never the secret itself.
      const entry = `HERALD_API_KEYS entry #${index + 1}`;
      const weakness = weakSecretProblem(secret);
      if (separator <= 0) {
        reader.problems.push(`${entry} must be "secret:scope"`);
      } else if (weakness) {
        reader.problems.push(`${entry}: the secret ${weakness}; make one with \`openssl rand -hex 24\``);
      } else if (scope !== 'publish' && scope !== 'admin') {
        reader.problems.push(`${entry} has scope "${scope}"; use publish or admin`);
      } else if (firstEntry.has(secret)) {
        // One secret with two scopes would get whichever came last; the list must say one thing.
        reader.problems.push(`${entry} repeats the secret of entry #${firstEntry.get(secret)}; give each secret one scope`);
      } else {
        firstEntry.set(secret, index + 1);
        keys.push({ secret, scope });
      }
    });
  return keys;
}

/** HERALD_APP_SCHEMES: comma-separated app schemes, every one checked by appSchemeProblem. */
function readAppSchemes(reader: EnvReader): string[] {
  const raw = reader.string('HERALD_APP_SCHEMES');
  if (raw === undefined) return [];
  const schemes = normalizeAppSchemes(raw.split(',').filter((s) => s.trim() !== ''));
  const problems = schemes.map(appSchemeProblem).filter((p): p is string => p !== null);
  for (const problem of problems) reader.problems.push(`HERALD_APP_SCHEMES entry ${problem}`);
  return problems.length === 0 ? schemes : [];
}

function readVapid(reader: EnvReader, warnings: string[]): VapidSettings | null {
  const publicKey = reader.string('VAPID_PUBLIC_KEY');
  const privateKey = reader.string('VAPID_PRIVATE_KEY');
  const subject = reader.string('VAPID_SUBJECT');
  if (!publicKey && !privateKey && !subject) {
    warnings.push('Web Push is off: set VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT (`herald vapid` makes a key pair)');
    return null;
  }
  const before = reader.problems.length;
  if (!publicKey || !/^[A-Za-z0-9_-]{87}$/.test(publicKey)) {
    reader.problems.push('VAPID_PUBLIC_KEY must be the 65-byte P-256 public key in base64url (87 characters; `herald vapid` makes one)');
  }
  if (!privateKey || !/^[A-Za-z0-9_-]{43}$/.test(privateKey)) {
    reader.problems.push('VAPID_PRIVATE_KEY must be the 32-byte P-256 private key in base64url (43 characters)');
  }
  if (!subject || !/^(mailto:.+|https:\/\/.+)$/.test(subject)) {
    reader.problems.push('VAPID_SUBJECT must be a mailto: or https: URL identifying you to push services');
  }
  if (reader.problems.length === before && !vapidKeysMatch(publicKey!, privateKey!)) {
    reader.problems.push('VAPID_PUBLIC_KEY is not the public half of VAPID_PRIVATE_KEY; use the pair `herald vapid` printed together');
  }
  return reader.problems.length === before ? { publicKey: publicKey!, privateKey: privateKey!, subject: subject! } : null;
}

/** HERALD_CONCURRENCY for every channel, HERALD_CONCURRENCY_GOTIFY (…_WEBPUSH, …_EMAIL) for one. */
function readConcurrency(reader: EnvReader): Record<ChannelName, number> {
  const all = reader.integer('HERALD_CONCURRENCY', 50, 1, 10_000);
  const perChannel = CHANNEL_NAMES.map((channel) => [channel, reader.integer(`HERALD_CONCURRENCY_${channel.toUpperCase()}`, all, 1, 10_000)]);
  return Object.fromEntries(perChannel) as Record<ChannelName, number>;
}

/** Browsers check pushes against the public key, so a mismatched pair would fail every send. */
function vapidKeysMatch(publicKey: string, privateKey: string): boolean {
  try {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from(privateKey, 'base64url'));
    return ecdh.getPublicKey().equals(Buffer.from(publicKey, 'base64url'));
  } catch {
    return false;
  }
}

export function loadConfig(env: Env = process.env): LoadedConfig {
  const reader = new EnvReader(env);
  const warnings: string[] = [];

  const redisUrl = reader.url('REDIS_URL', ['redis:', 'rediss:']);
  const prefix = reader.string('HERALD_PREFIX') ?? DEFAULT_PREFIX;
  if (!PREFIX_PATTERN.test(prefix)) reader.problems.push(`HERALD_PREFIX must be ${PREFIX_RULE}`);

  const gotifyUrl = reader.url('GOTIFY_URL', ['http:', 'https:']);
  const gotifyToken = reader.string('GOTIFY_TOKEN');
  const gotifyShared = reader.flag('HERALD_GOTIFY_SHARED');
  if (!gotifyUrl && env.GOTIFY_URL === undefined) {
    warnings.push('Gotify is off: set GOTIFY_URL (recipients register their own Gotify tokens)');
  }
  if (gotifyShared && !gotifyToken) reader.problems.push('HERALD_GOTIFY_SHARED=1 needs GOTIFY_TOKEN, the shared application token');
  if (gotifyUrl && gotifyToken && !gotifyShared) {
    warnings.push(
      'GOTIFY_TOKEN is not used: set HERALD_GOTIFY_SHARED=1 if your users share one Gotify inbox (recipients without a token of their own then get it)',
    );
  }

  const smtpUrl = reader.url('SMTP_URL', ['smtp:', 'smtps:']);
  const mailFrom = reader.string('MAIL_FROM');
  if (smtpUrl && !mailFrom) reader.problems.push('MAIL_FROM must be set when SMTP_URL is (e.g. "Herald <noreply@example.org>")');
  const smtpTls = smtpUrl ? smtpTlsProblem(smtpUrl) : null;
  if (smtpTls) reader.problems.push(smtpTls);
  // An address is needed for the envelope sender and the Message-ID domain.
  if (mailFrom && !/(^|<)[^\s<>@]+@[^\s<>@]+\.[^\s<>@]+>?$/.test(mailFrom)) {
    reader.problems.push('MAIL_FROM must hold an email address, e.g. "Herald <noreply@example.org>" or noreply@example.org');
  }
  if (!smtpUrl && env.SMTP_URL === undefined) warnings.push('Email is off: set SMTP_URL and MAIL_FROM');

  const backoffMs = reader.integer('HERALD_BACKOFF_MS', 1000, 1, 3_600_000);
  const backoffMaxMs = reader.integer('HERALD_BACKOFF_MAX_MS', 300_000, 1, 86_400_000);
  if (backoffMaxMs < backoffMs) reader.problems.push('HERALD_BACKOFF_MAX_MS must not be below HERALD_BACKOFF_MS');

  const logLevel = reader.string('HERALD_LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) reader.problems.push(`HERALD_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  const config: Config = {
    redisUrl: redisUrl ?? DEFAULT_REDIS_URL,
    redisUrlExplicit: reader.string('REDIS_URL') !== undefined,
    prefix,
    host: reader.string('HERALD_HOST') ?? '127.0.0.1',
    port: reader.integer('HERALD_PORT', 8080, 0, 65535),
    apiKeys: readApiKeys(reader),
    gotify: gotifyUrl ? { url: gotifyUrl.replace(/\/+$/, ''), defaultToken: gotifyToken, shared: gotifyShared } : null,
    vapid: readVapid(reader, warnings),
    smtp: smtpUrl && mailFrom ? { url: smtpUrl, from: mailFrom } : null,
    defaultChannels: reader.channelList('HERALD_DEFAULT_CHANNELS', CHANNEL_NAMES),
    maxAttempts: reader.integer('HERALD_MAX_ATTEMPTS', 5, 1, 100),
    backoffMs,
    backoffMaxMs,
    allowPrivateEndpoints: reader.flag('HERALD_ALLOW_PRIVATE_ENDPOINTS'),
    appSchemes: readAppSchemes(reader),
    shutdownMs: reader.integer('HERALD_SHUTDOWN_MS', 10_000, 0, 600_000),
    statusRetentionSeconds: reader.bounded('HERALD_STATUS_RETENTION_SECONDS', STATUS_RETENTION_SECONDS),
    deadLetterRetentionSeconds: reader.bounded('HERALD_DEAD_LETTER_RETENTION_SECONDS', DEAD_LETTER_RETENTION_SECONDS),
    providerTimeoutMs: reader.integer('HERALD_PROVIDER_TIMEOUT_MS', 10_000, 100, 300_000),
    concurrency: readConcurrency(reader),
    webpushMaxSubscriptions: reader.bounded('HERALD_WEBPUSH_MAX_SUBSCRIPTIONS', WEBPUSH_MAX_SUBSCRIPTIONS),
    enqueueLingerMs: reader.bounded('HERALD_ENQUEUE_LINGER_MS', ENQUEUE_LINGER_MS),
    // One thread beside the event loop when there is a second core to run it on.
    webpushCryptoThreads: reader.integer('HERALD_WEBPUSH_CRYPTO_THREADS', availableParallelism() > 1 ? 1 : 0, 0, 64),
    jobLockMs: reader.integer('HERALD_JOB_LOCK_MS', 30_000, 1000, 600_000),
    logLevel,
    logPretty: reader.flag('HERALD_LOG_PRETTY'),
  };

  if (reader.problems.length > 0) throw new ConfigError(reader.problems);
  return { config: deepFreeze(config), warnings };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** The channels whose settings are present in this process. */
export function enabledChannels(config: Config): ChannelName[] {
  return CHANNEL_NAMES.filter((name) => (name === 'gotify' ? config.gotify !== null : name === 'webpush' ? config.vapid !== null : config.smtp !== null));
}
