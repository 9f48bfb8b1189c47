/**
 * The only module that reads `process.env`. `loadConfig` turns the environment into one frozen,
 * typed Config, or throws a ConfigError that lists every bad variable at once (so an operator fixes
 * them in one go instead of one restart per typo).
 */
import { availableParallelism } from 'node:os';
import { smtpTlsProblem } from './channels/email/smtp-tls.js';
import type { StartupErrorCode } from './codes.js';
import { CHANNEL_NAMES, isChannelName, type ChannelName } from './types.js';
import { ENV, PREFIX_RULE, type EnvName, type EnvNameOf } from './defaults.js';
import type { GotifySettings } from './channels/gotify.js';
import { vapidKeysMatch, type VapidSettings } from './channels/webpush/vapid.js';
import type { SmtpSettings } from './channels/email/channel.js';
import type { NtfySettings } from './channels/ntfy.js';
import type { WebhookSettings } from './channels/webhook.js';
import { secretProblem } from './channels/standard-webhooks.js';
import { clusterPrefixProblem, shardsProblem } from './shards.js';
import type { ClusterNode, RedisTarget } from './redis/client.js';

// The SDK reads the settings it shares with the environment from here, with the rest of its settings.
export {
  type Bounds,
  DEAD_LETTER_RETENTION_SECONDS,
  EVENTS_RETENTION,
  DEFAULT_PREFIX,
  DEFAULT_REDIS_URL,
  ENQUEUE_LINGER_MS,
  INBOX_DEFAULTS,
  PREFIX_RULE,
  REPLICA_ACKS,
  SHARDS,
  STATUS_RETENTION_SECONDS,
  WEBPUSH_MAX_SUBSCRIPTIONS,
} from './defaults.js';

/** What a prefix may hold (PREFIX_RULE in words): it is part of every key, BullMQ's included. */
export const PREFIX_PATTERN = /^[A-Za-z0-9_{}.-]{1,64}$/;

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

export type { GotifySettings, VapidSettings, SmtpSettings, NtfySettings, WebhookSettings };

/** The inbox's bounds: items kept per recipient and how long an inbox outlives its newest item. */
export interface InboxSettings {
  maxItems: number;
  retentionSeconds: number;
}

/**
 * Herald's settings, read from the environment once at start and frozen. Each field names the
 * variable it comes from; src/defaults.ts has every variable's default, range and meaning.
 */
export interface Config {
  /** Redis to connect to (REDIS_URL); may hold a password, so never logged. */
  redisUrl: string;
  /** False when REDIS_URL was not set: `herald start` may then start a local redis-server. */
  redisUrlExplicit: boolean;
  /** Prefix of every key, BullMQ's included (HERALD_PREFIX); producers and workers must share it. */
  prefix: string;
  /** Seed nodes of a Redis Cluster (REDIS_CLUSTER_NODES); when set, redisUrl is not used. */
  redisClusterNodes: readonly ClusterNode[] | null;
  /** Shards of the deployment (HERALD_SHARDS): cells under `{prefix:k}` when above 1 (src/shards.ts). */
  shards: number;
  /** On a Redis Cluster, replicas that must hold an accepted notification before it is acknowledged (HERALD_REPLICA_ACKS). */
  replicaAcks: number;
  /** Address the API listens on (HERALD_HOST). */
  host: string;
  /** Port the API listens on (HERALD_PORT); 0 picks a free one. */
  port: number;
  /** API keys with their scopes (HERALD_API_KEYS); empty means every guarded route answers 401. */
  apiKeys: readonly ApiKey[];
  /** The Gotify channel's settings (GOTIFY_URL, GOTIFY_TOKEN, HERALD_GOTIFY_SHARED), or null when it is off. */
  gotify: GotifySettings | null;
  /** The VAPID key pair and subject (VAPID_*), or null when Web Push is off. */
  vapid: VapidSettings | null;
  /** The SMTP server and sender (SMTP_URL, MAIL_FROM), or null when email is off. */
  smtp: SmtpSettings | null;
  /** The ntfy server and its access token (NTFY_URL, NTFY_TOKEN), or null when ntfy is off. */
  ntfy: NtfySettings | null;
  /** The webhook channel's signing secret (HERALD_WEBHOOK_SECRET), or null when the channel is off. */
  webhook: WebhookSettings | null;
  /** The in-app inbox (HERALD_INBOX_MAX_ITEMS, HERALD_INBOX_RETENTION_SECONDS); always on: it needs only Redis. */
  inbox: InboxSettings;
  /** Event webhooks: worker slots, per-endpoint slots and the retry schedule (HERALD_EVENT_WEBHOOK_*). */
  webhooks: WebhookDeliverySettings;
  /** Fallback order when neither the notification nor its recipient names one (HERALD_DEFAULT_CHANNELS). */
  defaultChannels: readonly ChannelName[];
  /** Tries per channel for transient failures (HERALD_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** Base of the exponential backoff between tries, in ms (HERALD_BACKOFF_MS). */
  backoffMs: number;
  /** Cap of the backoff between tries, in ms, never below backoffMs (HERALD_BACKOFF_MAX_MS). */
  backoffMaxMs: number;
  /** Whether push endpoints and webhook URLs may be plain http:, any port, or private addresses (HERALD_ALLOW_PRIVATE_ENDPOINTS). */
  allowPrivateEndpoints: boolean;
  /** URL schemes besides https: that a notification's `url` may use, lower case, without `:` (HERALD_APP_SCHEMES). */
  appSchemes: readonly string[];
  /** Graceful shutdown deadline, in ms (HERALD_SHUTDOWN_MS). */
  shutdownMs: number;
  /** How long status records (and so idempotency keys) are kept after a notification ends (HERALD_STATUS_RETENTION_SECONDS). */
  statusRetentionSeconds: number;
  /** How long dead letters are kept (HERALD_DEAD_LETTER_RETENTION_SECONDS). */
  deadLetterRetentionSeconds: number;
  /** Events kept in the event log, about (HERALD_EVENTS_RETENTION). */
  eventsRetention: number;
  /** Notifications at or above this priority are delivered during quiet hours (HERALD_QUIET_BYPASS_PRIORITY). */
  quietBypassPriority: number;
  /** Deadline of one request to a provider (Gotify, push service, ntfy, webhook URL, SMTP step), in ms (HERALD_PROVIDER_TIMEOUT_MS). */
  providerTimeoutMs: number;
  /** Deliveries one worker runs at once, per channel (HERALD_CONCURRENCY, HERALD_CONCURRENCY_<CHANNEL>). */
  concurrency: Readonly<Record<ChannelName, number>>;
  /** Web Push subscriptions kept per user; the oldest is dropped past this (HERALD_WEBPUSH_MAX_SUBSCRIPTIONS). */
  webpushMaxSubscriptions: number;
  /** How long concurrent notify calls may wait for company in the API's enqueue transactions, in ms (HERALD_ENQUEUE_LINGER_MS). */
  enqueueLingerMs: number;
  /** Worker threads that encrypt Web Push payloads in a worker process; 0 encrypts in the event loop (HERALD_WEBPUSH_CRYPTO_THREADS). */
  webpushCryptoThreads: number;
  /**
   * How long a worker's claim on a job lasts without renewal, in ms (HERALD_JOB_LOCK_MS). A worker
   * that dies holding a job releases it after this long; then another worker runs it again.
   */
  jobLockMs: number;
  /** Recipients of a topic notification one fan-out page writes (HERALD_FANOUT_PAGE_SIZE). */
  fanOutPageSize: number;
  /** The least severe pino level logged (HERALD_LOG_LEVEL). */
  logLevel: string;
  /** Human-readable logs instead of JSON lines (HERALD_LOG_PRETTY). */
  logPretty: boolean;
  /** NODE_ENV is `production`: `herald start` then makes no dev keys and prints JSON lines even on a terminal. */
  production: boolean;
}

export interface WebhookDeliverySettings {
  /** Webhook deliveries one worker process runs at once (HERALD_EVENT_WEBHOOK_CONCURRENCY). */
  concurrency: number;
  /** Requests to one endpoint at once, per worker process (HERALD_EVENT_WEBHOOK_ENDPOINT_CONCURRENCY). */
  endpointConcurrency: number;
  /** Wait before the second try, in ms; doubles at each try (HERALD_EVENT_WEBHOOK_BACKOFF_MS). */
  backoffMs: number;
  /** Longest wait between two tries, in ms (HERALD_EVENT_WEBHOOK_BACKOFF_MAX_MS). */
  backoffMaxMs: number;
  /** How long a delivery is retried before it is given up, in seconds (HERALD_EVENT_WEBHOOK_RETRY_SECONDS). */
  retrySeconds: number;
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

export interface ChannelOffNote {
  remedy: string;
  warning: string;
}

export interface LoadedConfig {
  config: Config;
  /** Non-fatal notes for the operator, e.g. a channel switched off for lack of settings. */
  warnings: string[];
  /** Each channel that is off for lack of settings: what turns it on ("set GOTIFY_URL"), and its entry in `warnings`. */
  channelsOff: Partial<Record<ChannelName, ChannelOffNote>>;
}

type Env = Record<string, string | undefined>;

/** Whole-number variables with a fixed default; the others take their fallback from the caller. */
type FixedIntegerName = { [N in EnvNameOf<'integer'>]: (typeof ENV)[N]['default'] extends number ? N : never }[EnvNameOf<'integer'>];

/**
 * Reads variables by their names in ENV (src/defaults.ts), which supplies each one's default and
 * bounds, and collects problems on the way, so that every bad variable is reported together.
 */
class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  /** The value trimmed, or undefined when unset or blank. */
  string(name: EnvName): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  /** A whole number within the variable's bounds; its default (or `fallback`) when unset or bad. */
  integer(name: FixedIntegerName): number;
  integer(name: EnvNameOf<'integer'>, fallback: number): number;
  integer(name: EnvNameOf<'integer'>, fallback?: number): number {
    const { min, max, default: fixed } = ENV[name];
    // The overloads let a variable without a fixed default in only with a fallback.
    const otherwise = fallback ?? (fixed as number);
    const raw = this.string(name);
    if (raw === undefined) return otherwise;
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      this.problems.push(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
      return otherwise;
    }
    return value;
  }

  flag(name: EnvNameOf<'flag'>): boolean {
    const raw = this.string(name);
    if (raw === undefined) return ENV[name].default;
    if (['1', 'true', 'yes'].includes(raw.toLowerCase())) return true;
    if (['0', 'false', 'no'].includes(raw.toLowerCase())) return false;
    this.problems.push(`${name} must be 1 or 0 (got "${raw}")`);
    return ENV[name].default;
  }

  /** The URL as written, if it parses and has one of the variable's protocols. */
  url(name: EnvNameOf<'url'>): string | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const protocols: readonly string[] = ENV[name].protocols;
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

  /** One of the variable's values, or its default when unset. */
  choice(name: EnvNameOf<'choice'>): string {
    const { values, default: fallback } = ENV[name];
    const value = this.string(name) ?? fallback;
    if (!(values as readonly string[]).includes(value)) this.problems.push(`${name} must be one of ${values.join(', ')}`);
    return value;
  }

  channelList(name: EnvNameOf<'list'>, fallback: readonly ChannelName[]): ChannelName[] {
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

/**
 * REDIS_CLUSTER_NODES: `host:port` seed nodes (`[::1]:7000` for an IPv6 address), or null when
 * unset. Every bad entry is named by its position and text (nodes carry no secrets).
 */
function readClusterNodes(reader: EnvReader): ClusterNode[] | null {
  const raw = reader.string('REDIS_CLUSTER_NODES');
  if (raw === undefined) return null;
  const nodes: ClusterNode[] = [];
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .forEach((entry, index) => {
      const node = parseClusterNode(entry);
      if (node) nodes.push(node);
      else reader.problems.push(`REDIS_CLUSTER_NODES entry #${index + 1} ("${entry}") must be host:port, such as 10.0.0.1:7000`);
    });
  if (nodes.length === 0 && reader.problems.length === 0) reader.problems.push('REDIS_CLUSTER_NODES must list host:port seed nodes, such as 10.0.0.1:7000');
  return nodes;
}

/** `host:port` or `[ipv6]:port` as a node; null when it is not one. */
export function parseClusterNode(entry: string): ClusterNode | null {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(entry);
  if (!match) return null;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return null;
  return { host: match[1] ?? match[2]!, port };
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

/** VAPID_PUBLIC_KEY: the 65-byte uncompressed P-256 point, base64url. */
export const VAPID_PUBLIC_KEY_PATTERN = /^[A-Za-z0-9_-]{87}$/;
/** VAPID_PRIVATE_KEY: the 32-byte P-256 scalar, base64url. */
export const VAPID_PRIVATE_KEY_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/** VAPID_SUBJECT: how push services reach the sender (RFC 8292 §2.1). */
export const VAPID_SUBJECT_PATTERN = /^(mailto:.+|https:\/\/.+)$/;

/** Notes a channel off for lack of settings: its name as people write it, and what turns it on. */
type ChannelOff = (channel: ChannelName, label: string, remedy: string) => void;

function readNtfy(reader: EnvReader, env: Env, channelOff: ChannelOff): NtfySettings | null {
  const url = reader.url('NTFY_URL');
  const token = reader.string('NTFY_TOKEN');
  // It travels in a header: anything else would fail every request rather than the start.
  if (token && !/^[\x21-\x7e]+$/.test(token)) reader.problems.push('NTFY_TOKEN must be visible ASCII characters without spaces (an ntfy access token, tk_…)');
  if (!url) {
    if (env.NTFY_URL === undefined) {
      channelOff('ntfy', 'ntfy', `set NTFY_URL (recipients register their ntfy topics)${token ? '; NTFY_TOKEN is not used without it' : ''}`);
    }
    return null;
  }
  return { url: url.replace(/\/+$/, ''), ...(token ? { token } : {}) };
}

function readWebhookSecret(reader: EnvReader, env: Env, channelOff: ChannelOff): WebhookSettings | null {
  const secret = reader.string('HERALD_WEBHOOK_SECRET');
  if (!secret) {
    if (env.HERALD_WEBHOOK_SECRET === undefined)
      channelOff('webhook', 'The webhook channel', 'set HERALD_WEBHOOK_SECRET (`echo whsec_$(openssl rand -base64 32)` makes one)');
    return null;
  }
  const problem = secretProblem(secret);
  if (problem) {
    // The problem is put in words that never repeat the secret.
    reader.problems.push(`HERALD_WEBHOOK_SECRET ${problem}; make one with \`echo whsec_$(openssl rand -base64 32)\``);
    return null;
  }
  return { secret };
}

function readVapid(reader: EnvReader, channelOff: ChannelOff): VapidSettings | null {
  const publicKey = reader.string('VAPID_PUBLIC_KEY');
  const privateKey = reader.string('VAPID_PRIVATE_KEY');
  const subject = reader.string('VAPID_SUBJECT');
  if (!publicKey && !privateKey && !subject) {
    channelOff('webpush', 'Web Push', 'set VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT (`herald vapid` makes a key pair)');
    return null;
  }
  const before = reader.problems.length;
  if (!publicKey || !VAPID_PUBLIC_KEY_PATTERN.test(publicKey)) {
    reader.problems.push('VAPID_PUBLIC_KEY must be the 65-byte P-256 public key in base64url (87 characters; `herald vapid` makes one)');
  }
  if (!privateKey || !VAPID_PRIVATE_KEY_PATTERN.test(privateKey)) {
    reader.problems.push('VAPID_PRIVATE_KEY must be the 32-byte P-256 private key in base64url (43 characters)');
  }
  if (!subject || !VAPID_SUBJECT_PATTERN.test(subject)) {
    reader.problems.push('VAPID_SUBJECT must be a mailto: or https: URL identifying you to push services');
  }
  if (reader.problems.length === before && !vapidKeysMatch(publicKey!, privateKey!)) {
    reader.problems.push('VAPID_PUBLIC_KEY is not the public half of VAPID_PRIVATE_KEY; use the pair `herald vapid` printed together');
  }
  return reader.problems.length === before ? { publicKey: publicKey!, privateKey: privateKey!, subject: subject! } : null;
}

/** The variable that sets one channel's concurrency, over HERALD_CONCURRENCY. */
const CONCURRENCY_VARIABLES = {
  gotify: 'HERALD_CONCURRENCY_GOTIFY',
  webpush: 'HERALD_CONCURRENCY_WEBPUSH',
  email: 'HERALD_CONCURRENCY_EMAIL',
  ntfy: 'HERALD_CONCURRENCY_NTFY',
  webhook: 'HERALD_CONCURRENCY_WEBHOOK',
  inbox: 'HERALD_CONCURRENCY_INBOX',
} as const satisfies Record<ChannelName, EnvNameOf<'integer'>>;

/** HERALD_CONCURRENCY for every channel, HERALD_CONCURRENCY_GOTIFY (…_WEBPUSH, …_EMAIL, …) for one. */
function readConcurrency(reader: EnvReader): Record<ChannelName, number> {
  const all = reader.integer('HERALD_CONCURRENCY');
  const perChannel = CHANNEL_NAMES.map((channel) => [channel, reader.integer(CONCURRENCY_VARIABLES[channel], all)]);
  return Object.fromEntries(perChannel) as Record<ChannelName, number>;
}

export function loadConfig(env: Env = process.env): LoadedConfig {
  const reader = new EnvReader(env);
  const warnings: string[] = [];
  const channelsOff: Partial<Record<ChannelName, ChannelOffNote>> = {};
  const channelOff: ChannelOff = (channel, label, remedy) => {
    const warning = `${label} is off: ${remedy}`;
    channelsOff[channel] = { remedy, warning };
    warnings.push(warning);
  };

  const redisUrl = reader.url('REDIS_URL');
  const prefix = reader.string('HERALD_PREFIX') ?? ENV.HERALD_PREFIX.default;
  if (!PREFIX_PATTERN.test(prefix)) reader.problems.push(`HERALD_PREFIX must be ${PREFIX_RULE}`);
  const shards = reader.integer('HERALD_SHARDS');
  const shardsTrouble = shardsProblem(prefix, shards);
  if (shardsTrouble) reader.problems.push(`HERALD_SHARDS ${shardsTrouble}`);
  const redisClusterNodes = readClusterNodes(reader);
  const clusterPrefix = redisClusterNodes ? clusterPrefixProblem(prefix, shards) : null;
  if (clusterPrefix && !shardsTrouble) reader.problems.push(`HERALD_PREFIX ${clusterPrefix}`);
  if (redisClusterNodes && redisUrl) warnings.push('REDIS_URL is not used: REDIS_CLUSTER_NODES is set, so Herald connects to that cluster');

  const gotifyUrl = reader.url('GOTIFY_URL');
  const gotifyToken = reader.string('GOTIFY_TOKEN');
  const gotifyShared = reader.flag('HERALD_GOTIFY_SHARED');
  if (!gotifyUrl && env.GOTIFY_URL === undefined) {
    channelOff('gotify', 'Gotify', 'set GOTIFY_URL (recipients register their own Gotify tokens)');
  }
  if (gotifyShared && !gotifyToken) reader.problems.push('HERALD_GOTIFY_SHARED=1 needs GOTIFY_TOKEN, the shared application token');
  if (gotifyUrl && gotifyToken && !gotifyShared) {
    warnings.push(
      'GOTIFY_TOKEN is not used: set HERALD_GOTIFY_SHARED=1 if your users share one Gotify inbox (recipients without a token of their own then get it)',
    );
  }

  const smtpUrl = reader.url('SMTP_URL');
  const mailFrom = reader.string('MAIL_FROM');
  if (smtpUrl && !mailFrom) reader.problems.push('MAIL_FROM must be set when SMTP_URL is (e.g. "Herald <noreply@example.org>")');
  const smtpTls = smtpUrl ? smtpTlsProblem(smtpUrl) : null;
  if (smtpTls) reader.problems.push(smtpTls);
  // An address is needed for the envelope sender and the Message-ID domain.
  if (mailFrom && !/(^|<)[^\s<>@]+@[^\s<>@]+\.[^\s<>@]+>?$/.test(mailFrom)) {
    reader.problems.push('MAIL_FROM must hold an email address, e.g. "Herald <noreply@example.org>" or noreply@example.org');
  }
  if (!smtpUrl && env.SMTP_URL === undefined) channelOff('email', 'Email', 'set SMTP_URL and MAIL_FROM');

  const backoffMs = reader.integer('HERALD_BACKOFF_MS');
  const backoffMaxMs = reader.integer('HERALD_BACKOFF_MAX_MS');
  if (backoffMaxMs < backoffMs) reader.problems.push('HERALD_BACKOFF_MAX_MS must not be below HERALD_BACKOFF_MS');

  const logLevel = reader.choice('HERALD_LOG_LEVEL');

  const config: Config = {
    redisUrl: redisUrl ?? ENV.REDIS_URL.default,
    // A cluster's nodes are given, so `herald start` never starts a private redis-server beside it.
    redisUrlExplicit: reader.string('REDIS_URL') !== undefined || redisClusterNodes !== null,
    prefix,
    redisClusterNodes,
    shards,
    replicaAcks: reader.integer('HERALD_REPLICA_ACKS'),
    host: reader.string('HERALD_HOST') ?? ENV.HERALD_HOST.default,
    port: reader.integer('HERALD_PORT'),
    apiKeys: readApiKeys(reader),
    gotify: gotifyUrl ? { url: gotifyUrl.replace(/\/+$/, ''), defaultToken: gotifyToken, shared: gotifyShared } : null,
    vapid: readVapid(reader, channelOff),
    smtp: smtpUrl && mailFrom ? { url: smtpUrl, from: mailFrom } : null,
    ntfy: readNtfy(reader, env, channelOff),
    webhook: readWebhookSecret(reader, env, channelOff),
    inbox: { maxItems: reader.integer('HERALD_INBOX_MAX_ITEMS'), retentionSeconds: reader.integer('HERALD_INBOX_RETENTION_SECONDS') },
    webhooks: readWebhookDelivery(reader),
    defaultChannels: reader.channelList('HERALD_DEFAULT_CHANNELS', ENV.HERALD_DEFAULT_CHANNELS.default),
    maxAttempts: reader.integer('HERALD_MAX_ATTEMPTS'),
    backoffMs,
    backoffMaxMs,
    allowPrivateEndpoints: reader.flag('HERALD_ALLOW_PRIVATE_ENDPOINTS'),
    appSchemes: readAppSchemes(reader),
    shutdownMs: reader.integer('HERALD_SHUTDOWN_MS'),
    statusRetentionSeconds: reader.integer('HERALD_STATUS_RETENTION_SECONDS'),
    deadLetterRetentionSeconds: reader.integer('HERALD_DEAD_LETTER_RETENTION_SECONDS'),
    eventsRetention: reader.integer('HERALD_EVENTS_RETENTION'),
    quietBypassPriority: reader.integer('HERALD_QUIET_BYPASS_PRIORITY'),
    providerTimeoutMs: reader.integer('HERALD_PROVIDER_TIMEOUT_MS'),
    concurrency: readConcurrency(reader),
    webpushMaxSubscriptions: reader.integer('HERALD_WEBPUSH_MAX_SUBSCRIPTIONS'),
    enqueueLingerMs: reader.integer('HERALD_ENQUEUE_LINGER_MS'),
    // The default thread runs beside the event loop only when there is a second core to run it on.
    webpushCryptoThreads: reader.integer('HERALD_WEBPUSH_CRYPTO_THREADS', availableParallelism() > 1 ? ENV.HERALD_WEBPUSH_CRYPTO_THREADS.default : 0),
    jobLockMs: reader.integer('HERALD_JOB_LOCK_MS'),
    fanOutPageSize: reader.integer('HERALD_FANOUT_PAGE_SIZE'),
    logLevel,
    logPretty: reader.flag('HERALD_LOG_PRETTY'),
    production: reader.string('NODE_ENV')?.toLowerCase() === 'production',
  };

  if (reader.problems.length > 0) throw new ConfigError(reader.problems);
  return { config: deepFreeze(config), warnings, channelsOff };
}

function readWebhookDelivery(reader: EnvReader): WebhookDeliverySettings {
  const backoffMs = reader.integer('HERALD_EVENT_WEBHOOK_BACKOFF_MS');
  const backoffMaxMs = reader.integer('HERALD_EVENT_WEBHOOK_BACKOFF_MAX_MS');
  if (backoffMaxMs < backoffMs) reader.problems.push('HERALD_EVENT_WEBHOOK_BACKOFF_MAX_MS must not be below HERALD_EVENT_WEBHOOK_BACKOFF_MS');
  return {
    concurrency: reader.integer('HERALD_EVENT_WEBHOOK_CONCURRENCY'),
    endpointConcurrency: reader.integer('HERALD_EVENT_WEBHOOK_ENDPOINT_CONCURRENCY'),
    backoffMs,
    backoffMaxMs,
    retrySeconds: reader.integer('HERALD_EVENT_WEBHOOK_RETRY_SECONDS'),
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** The setting each channel is on with. */
const CHANNEL_SETTINGS = {
  gotify: 'gotify',
  webpush: 'vapid',
  email: 'smtp',
  ntfy: 'ntfy',
  webhook: 'webhook',
  inbox: 'inbox',
} as const satisfies Record<ChannelName, keyof Config>;

/** The Redis a process connects to: the cluster when REDIS_CLUSTER_NODES is set, else REDIS_URL. */
export function redisTarget(config: Pick<Config, 'redisUrl' | 'redisClusterNodes'>): RedisTarget {
  return config.redisClusterNodes ? { clusterNodes: config.redisClusterNodes } : { url: config.redisUrl };
}

/** The channels whose settings are present in this process. */
export function enabledChannels(config: Config): ChannelName[] {
  return CHANNEL_NAMES.filter((name) => config[CHANNEL_SETTINGS[name]] !== null);
}
