/**
 * Every environment variable Herald reads, with its default, its range and what it does: the one
 * place they are written down. `loadConfig` (config.ts) takes its defaults and bounds from here,
 * the SDK its option bounds, and `npm run docs:config` writes config/herald.env.example and the
 * configuration table of docs/operations.md from it; a test fails when either file is stale or
 * when src/ reads a variable that is missing here.
 *
 * The object is `as const satisfies`: each entry is checked against EnvSpec, and its literal types
 * stay usable (`ENV.HERALD_PORT.default` is `8080`, `ENV.HERALD_PREFIX.default` is `'herald'`).
 */
import { CHANNEL_NAMES, DEFAULT_CHANNELS } from './types.js';

/** The sections of the env example, in the order they appear. */
export type EnvGroup = 'Redis' | 'API' | 'Gotify' | 'Web Push' | 'Email' | 'ntfy' | 'Webhook' | 'Inbox' | 'Delivery' | 'Workers' | 'Retention' | 'Logs';

interface EnvCommon {
  readonly group: EnvGroup;
  /** One line: what the variable sets. The env example and the docs table both show it. */
  readonly doc: string;
  /** More for the docs table only: rules, interactions, consequences. */
  readonly details?: string;
  /** Holds a credential, or may (a URL with a password): never echoed in errors or logs, left blank in the example. */
  readonly secret?: boolean;
  /** What the env example shows instead of the default: a sample to adapt or a placeholder to replace. */
  readonly example?: string;
  /**
   * The default in words, when it is not one fixed value (it follows another variable or the
   * machine). The env example leaves such a variable empty, so that Herald works it out.
   */
  readonly defaultText?: string;
}

/** A whole number from `min` to `max`; `default` is null when it comes from elsewhere (see defaultText). */
export interface IntegerSpec extends EnvCommon {
  readonly kind: 'integer';
  readonly default: number | null;
  readonly min: number;
  readonly max: number;
  readonly unit?: 'ms' | 'seconds';
}

/** `1` or `0` (also `true`/`false`, `yes`/`no`); unset is `0`. */
export interface FlagSpec extends EnvCommon {
  readonly kind: 'flag';
  readonly default: false;
}

export interface UrlSpec extends EnvCommon {
  readonly kind: 'url';
  readonly default: string | null;
  /** The schemes accepted, with their colon (`redis:`). */
  readonly protocols: readonly string[];
}

export interface TextSpec extends EnvCommon {
  readonly kind: 'text';
  readonly default: string | null;
  /** What a valid value looks like, in words. */
  readonly rule?: string;
}

/** A comma-separated list. */
export interface ListSpec extends EnvCommon {
  readonly kind: 'list';
  readonly default: readonly string[] | null;
  /** What each item is, in words. */
  readonly items: string;
}

/** One of a fixed set of words. */
export interface ChoiceSpec extends EnvCommon {
  readonly kind: 'choice';
  readonly default: string;
  readonly values: readonly string[];
}

export type EnvSpec = IntegerSpec | FlagSpec | UrlSpec | TextSpec | ListSpec | ChoiceSpec;

const DAY_SECONDS = 86_400;

const CONCURRENCY_RANGE = { min: 1, max: 10_000 } as const;

/** HERALD_CONCURRENCY_<CHANNEL>: HERALD_CONCURRENCY for one channel, which it follows when unset. */
function channelConcurrency(channel: string, example = '') {
  return {
    kind: 'integer',
    group: 'Workers',
    default: null,
    defaultText: '`HERALD_CONCURRENCY`',
    ...CONCURRENCY_RANGE,
    doc: `\`HERALD_CONCURRENCY\` for ${channel} alone${example}`,
  } as const;
}

export const ENV = {
  REDIS_URL: {
    kind: 'url',
    group: 'Redis',
    default: 'redis://127.0.0.1:6379',
    protocols: ['redis:', 'rediss:'],
    secret: true,
    doc: 'Redis (`rediss://` for TLS); a password goes in the URL',
    details: 'When it is unset, `herald start` uses the Redis on 127.0.0.1:6379 or starts a private `redis-server` from PATH.',
  },
  HERALD_PREFIX: {
    kind: 'text',
    group: 'Redis',
    default: 'herald',
    rule: '1-64 characters of letters, digits, _ . - { }',
    doc: 'key prefix; producers and workers of one deployment share it',
    details:
      "With `HERALD_SHARDS` above 1 each shard's keys are tagged `{prefix:k}` (a Redis Cluster hash tag), so the prefix must not hold `{` or `}`. With one shard on Redis Cluster the prefix must be a hash tag such as `{herald}` (Herald refuses to start otherwise).",
  },
  REDIS_CLUSTER_NODES: {
    kind: 'list',
    group: 'Redis',
    default: null,
    items: '`host:port` seed nodes',
    example: '10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000',
    doc: 'seed nodes of a Redis Cluster (`host:port`, comma separated); when set, `REDIS_URL` is not used',
    details:
      'Herald discovers the other nodes from these and follows the cluster through resharding and failovers. Set `HERALD_SHARDS` to at least the number of primaries so that every node gets work (see [Scale](operations.md#scale-shards-and-redis-cluster)).',
  },
  HERALD_SHARDS: {
    kind: 'integer',
    group: 'Redis',
    default: 1,
    min: 1,
    max: 64,
    doc: 'shards: independent sets of queues and records, each under its own hash tag `{prefix:k}`; every process of a deployment uses the same value',
    details:
      "A notification's shard comes from its id. The count is fixed when a deployment first starts (kept in Redis as `prefix:shards`): a process started with another count refuses to start. With 1, the keys are those of a release without shards.",
  },
  HERALD_REPLICA_ACKS: {
    kind: 'integer',
    group: 'Redis',
    default: 1,
    min: 0,
    max: 5,
    doc: 'on a Redis Cluster: replicas that must hold an accepted notification before it is acknowledged (Redis `WAIT`); not used on one Redis',
    details:
      'Redis replicates asynchronously: without the wait, a primary that dies right after acknowledging an enqueue can take it with it, and its replica is promoted without it. Each enqueue transaction waits up to 1 s for the replicas; with fewer, the API answers 503 `HERALD_ERR_REDIS_UNAVAILABLE` (the notification may be kept: a retry with the same id is answered as a duplicate, never sent twice). Set `0` on a cluster without replicas. The SDK option `replicaAcks` has the same default and range. See [Redis Cluster failover](reliability.md#redis-cluster-failover).',
  },
  NODE_ENV: {
    kind: 'text',
    group: 'API',
    default: null,
    rule: 'any word; only `production` changes anything',
    doc: '`production` turns off what `herald start` does for a developer: the first-run keys and the summary on a terminal',
    details:
      'Outside production, `herald start` with neither `HERALD_API_KEYS` nor any `VAPID_*` variable makes dev keys and a VAPID pair in `./data/herald-dev.json` (see [First run](#first-run)), and on a terminal it prints a summary instead of JSON lines.',
  },
  HERALD_HOST: { kind: 'text', group: 'API', default: '127.0.0.1', rule: 'a host name or IP address', doc: 'address the API listens on' },
  HERALD_PORT: { kind: 'integer', group: 'API', default: 8080, min: 0, max: 65535, doc: 'port the API listens on' },
  HERALD_API_KEYS: {
    kind: 'list',
    group: 'API',
    default: null,
    items: '`secret:scope` pairs',
    secret: true,
    example: 'change-me-publish-0123456789:publish,change-me-admin-0123456789:admin',
    doc: 'API keys as `secret:scope` pairs; scope `publish` or `admin` (admin can do everything); make secrets with `openssl rand -hex 24`',
    details:
      'Without keys every route but health and the VAPID key answers 401. Herald refuses to start with a weak secret: under 16 characters, anything but visible ASCII (no spaces), fewer than 6 different characters, one short pattern repeated (`abcabcabc…`), or a placeholder from an example (`change-me`, `example`, `your-key`, …); and with one secret listed twice (each secret has one scope).',
  },
  HERALD_APP_SCHEMES: {
    kind: 'list',
    group: 'API',
    default: null,
    items: 'URL schemes without `:`',
    doc: 'app URL schemes a notification `url` may use besides `https:` (e.g. `mesh` for `mesh://room/1`)',
    details:
      'Schemes of the web, the browser or the system cannot be listed: `http`, `javascript`, `vbscript`, `data`, `blob`, `about`, `view-source`, `filesystem`, `file`, `smb`, `ftp`, `nfs`, `afp`, `intent`, `android-app`, `content`, `search-ms`, `ms-*`, `shell`.',
  },
  HERALD_ENQUEUE_LINGER_MS: {
    kind: 'integer',
    group: 'API',
    default: 5,
    min: 0,
    max: 1000,
    unit: 'ms',
    doc: 'how long the API lets an enqueue wait, under sustained concurrent requests, to share the next Redis transaction',
    details:
      'The wait starts after the previous shared transaction and ends early once 20 calls wait; `0` never waits. The SDK option `enqueueLingerMs` has the same default and range.',
  },
  GOTIFY_URL: {
    kind: 'url',
    group: 'Gotify',
    default: null,
    protocols: ['http:', 'https:'],
    example: 'http://gotify:80',
    doc: 'Gotify server base URL; the Gotify channel is off without it',
    details: 'Recipients register their own application tokens.',
  },
  GOTIFY_TOKEN: {
    kind: 'text',
    group: 'Gotify',
    default: null,
    rule: 'a Gotify application token',
    secret: true,
    doc: 'a shared application token, used only with `HERALD_GOTIFY_SHARED=1`',
    details: 'Without `HERALD_GOTIFY_SHARED=1` it is unused, and a warning at start says so. It is never used for an unknown or deleted recipient.',
  },
  HERALD_GOTIFY_SHARED: {
    kind: 'flag',
    group: 'Gotify',
    default: false,
    doc: '`1` gives `GOTIFY_TOKEN` to registered recipients without a token of their own (users who share one Gotify inbox)',
    details: 'Otherwise such a recipient has no Gotify address and the chain moves on. `1` without `GOTIFY_TOKEN` stops the start.',
  },
  VAPID_PUBLIC_KEY: {
    kind: 'text',
    group: 'Web Push',
    default: null,
    rule: 'a P-256 public key in base64url (87 characters)',
    doc: 'Web Push application server public key; `herald vapid` prints a pair',
    details: 'Web Push is off while the three VAPID variables are unset.',
  },
  VAPID_PRIVATE_KEY: {
    kind: 'text',
    group: 'Web Push',
    default: null,
    rule: 'a P-256 private key in base64url (43 characters)',
    secret: true,
    doc: 'the private half of the VAPID pair',
  },
  VAPID_SUBJECT: {
    kind: 'text',
    group: 'Web Push',
    default: null,
    rule: 'a `mailto:` or `https:` URL',
    example: 'mailto:ops@example.org',
    doc: 'how push services can reach you',
  },
  HERALD_ALLOW_PRIVATE_ENDPOINTS: {
    kind: 'flag',
    group: 'Web Push',
    default: false,
    doc: '`1` lets push endpoints and webhook URLs be plain `http:`, any port, or loopback/private addresses (tests, labs)',
  },
  HERALD_WEBPUSH_MAX_SUBSCRIPTIONS: {
    kind: 'integer',
    group: 'Web Push',
    default: 20,
    min: 1,
    max: 1000,
    doc: 'browsers kept per user; the oldest subscription is dropped past this',
  },
  HERALD_WEBPUSH_CRYPTO_THREADS: {
    kind: 'integer',
    group: 'Web Push',
    default: 1,
    defaultText: '`1` (`0` on one core)',
    min: 0,
    max: 64,
    doc: 'threads of a worker process that encrypt Web Push payloads; `0` encrypts in the event loop',
  },
  SMTP_URL: {
    kind: 'url',
    group: 'Email',
    default: null,
    protocols: ['smtp:', 'smtps:'],
    secret: true,
    example: 'smtp://mailpit:1025',
    doc: 'SMTP server, e.g. `smtp://user:pass@mail.example.org:587`; `smtps://` for implicit TLS; email is off without it',
    details:
      'With credentials in an `smtp://` URL Herald requires STARTTLS before it logs in, and refuses a query (`requireTLS=false`, `ignoreTLS`, `opportunisticTLS`) that would switch that off.',
  },
  MAIL_FROM: {
    kind: 'text',
    group: 'Email',
    default: null,
    rule: 'an email address, with or without a display name',
    example: 'Herald <noreply@example.org>',
    doc: 'sender of every email, such as `Herald <noreply@example.org>`; needed with `SMTP_URL`',
  },
  NTFY_URL: {
    kind: 'url',
    group: 'ntfy',
    default: null,
    protocols: ['http:', 'https:'],
    example: 'https://ntfy.example.org',
    doc: 'ntfy server base URL; the ntfy channel is off without it',
    details: "Herald publishes with ntfy's JSON API (`POST` to the server's root); recipients register their topics.",
  },
  NTFY_TOKEN: {
    kind: 'text',
    group: 'ntfy',
    default: null,
    rule: 'an ntfy access token (`tk_…`): visible ASCII without spaces',
    secret: true,
    doc: 'access token sent as `Authorization: Bearer …`, for a server that restricts publishing',
  },
  HERALD_WEBHOOK_SECRET: {
    kind: 'text',
    group: 'Webhook',
    default: null,
    rule: '`whsec_` followed by the base64 of 24 to 64 bytes',
    secret: true,
    doc: "secret that signs the webhook channel's requests (Standard Webhooks); the channel is off without it",
    details: 'Make one with `echo whsec_$(openssl rand -base64 32)` and give it to the receivers, which verify every request with it.',
  },
  HERALD_INBOX_MAX_ITEMS: {
    kind: 'integer',
    group: 'Inbox',
    default: 200,
    min: 1,
    max: 10_000,
    doc: "items kept in each recipient's inbox; storing one more drops the oldest",
  },
  HERALD_INBOX_RETENTION_SECONDS: {
    kind: 'integer',
    group: 'Inbox',
    default: 30 * DAY_SECONDS,
    min: 60,
    max: 365 * DAY_SECONDS,
    unit: 'seconds',
    doc: "how long a recipient's inbox is kept after its newest item; every new item renews it",
  },
  HERALD_EVENT_WEBHOOK_CONCURRENCY: {
    kind: 'integer',
    group: 'Webhook',
    default: 50,
    min: 0,
    max: CONCURRENCY_RANGE.max,
    doc: 'event webhook deliveries one worker process runs at once, in a queue of their own; `0`: this worker sends no event webhooks',
    details:
      "They never take a slot of the notification channels (`HERALD_CONCURRENCY`), but they share the process's CPU: to keep a burst of webhook retries off the notification workers' CPU, run them with `0` and a few workers with only webhooks (`herald worker` with `HERALD_EVENT_WEBHOOK_CONCURRENCY` above 0, on other cores or machines).",
  },
  HERALD_EVENT_WEBHOOK_ENDPOINT_CONCURRENCY: {
    kind: 'integer',
    group: 'Webhook',
    default: 10,
    ...CONCURRENCY_RANGE,
    doc: 'requests to one event webhook endpoint one worker process runs at once',
    details:
      "While the endpoint answers within a second, up to four times as many deliveries wait for its slots; otherwise a delivery that finds them taken goes back to the queue for half a second to a second without counting a try. So a hanging endpoint holds about this many of a worker's webhook slots, and the other endpoints' deliveries go on.",
  },
  HERALD_EVENT_WEBHOOK_BACKOFF_MS: {
    kind: 'integer',
    group: 'Webhook',
    default: 10_000,
    min: 1,
    max: 3_600_000,
    unit: 'ms',
    doc: 'wait before the second try of an event webhook delivery; it doubles at each try',
  },
  HERALD_EVENT_WEBHOOK_BACKOFF_MAX_MS: {
    kind: 'integer',
    group: 'Webhook',
    default: 3_600_000,
    min: 1,
    max: 86_400_000,
    unit: 'ms',
    doc: 'longest wait between two tries of an event webhook delivery; not below `HERALD_EVENT_WEBHOOK_BACKOFF_MS`',
  },
  HERALD_EVENT_WEBHOOK_RETRY_SECONDS: {
    kind: 'integer',
    group: 'Webhook',
    default: DAY_SECONDS,
    min: 1,
    max: 30 * DAY_SECONDS,
    unit: 'seconds',
    doc: 'how long an event webhook delivery is retried: it gets as many tries as it takes for the waits between them to add up to this',
    details:
      "At the defaults the waits are 10 s, 20 s, 40 s … 2560 s, then 1 h each: 33 tries over a little more than 24 h. Then the delivery is given up (kept a week among the webhook queue's failed jobs).",
  },
  HERALD_DEFAULT_CHANNELS: {
    kind: 'list',
    group: 'Delivery',
    default: DEFAULT_CHANNELS,
    items: `channels among ${CHANNEL_NAMES.join(', ')}`,
    doc: 'fallback order when neither the notification nor the recipient names one',
  },
  HERALD_MAX_ATTEMPTS: {
    kind: 'integer',
    group: 'Delivery',
    default: 5,
    min: 1,
    max: 100,
    doc: 'tries per channel for transient failures before the chain moves on',
    details: "An outage shorter than a notification's ttl delays it, it does not dead-letter it.",
  },
  HERALD_BACKOFF_MS: {
    kind: 'integer',
    group: 'Delivery',
    default: 1000,
    min: 1,
    max: 3_600_000,
    unit: 'ms',
    doc: 'base of the exponential backoff with jitter between tries',
    details:
      'Retry *n* waits a random time between half and all of `BACKOFF_MS × 2^(n-1)`, capped at `HERALD_BACKOFF_MAX_MS`; round *r* over the channels in an outage counts as retry `MAX_ATTEMPTS - 1 + r`.',
  },
  HERALD_BACKOFF_MAX_MS: {
    kind: 'integer',
    group: 'Delivery',
    default: 300_000,
    min: 1,
    max: 86_400_000,
    unit: 'ms',
    doc: 'cap of the backoff between tries; not below `HERALD_BACKOFF_MS`',
    details: 'It bounds how long a notification waits after a provider comes back.',
  },
  HERALD_QUIET_BYPASS_PRIORITY: {
    kind: 'integer',
    group: 'Delivery',
    default: 8,
    min: 0,
    max: 10,
    doc: "notifications at or above this priority are delivered during a recipient's quiet hours",
    details:
      'The others wait, `scheduled`, until the window ends (their ttl still applies). `0` lets every notification through; at the default a call at priority 8 rings, a chat message at 6 waits.',
  },
  HERALD_PROVIDER_TIMEOUT_MS: {
    kind: 'integer',
    group: 'Delivery',
    default: 10_000,
    min: 100,
    max: 300_000,
    unit: 'ms',
    doc: 'deadline of one request to Gotify, a push service, ntfy or a webhook URL; for email, of each SMTP step (the whole send gets twice that)',
  },
  HERALD_CONCURRENCY: {
    kind: 'integer',
    group: 'Workers',
    default: 50,
    ...CONCURRENCY_RANGE,
    doc: 'deliveries one worker sends at once per channel, and its keep-alive connections per provider',
    details: '`herald worker --concurrency` overrides it. A worker holds only as many jobs as keep these slots busy.',
  },
  HERALD_CONCURRENCY_GOTIFY: channelConcurrency('the Gotify channel'),
  HERALD_CONCURRENCY_WEBPUSH: channelConcurrency('the Web Push channel'),
  HERALD_CONCURRENCY_EMAIL: channelConcurrency('the email channel', ', e.g. fewer parallel SMTP sessions than push requests'),
  HERALD_CONCURRENCY_NTFY: channelConcurrency('the ntfy channel'),
  HERALD_CONCURRENCY_WEBHOOK: channelConcurrency('the webhook channel'),
  HERALD_CONCURRENCY_INBOX: channelConcurrency('the inbox channel'),
  HERALD_JOB_LOCK_MS: {
    kind: 'integer',
    group: 'Workers',
    default: 30_000,
    min: 1000,
    max: 600_000,
    unit: 'ms',
    doc: "how long a worker's claim on a job lasts unrenewed: a dead worker's jobs run again on another worker after this long",
  },
  HERALD_FANOUT_PAGE_SIZE: {
    kind: 'integer',
    group: 'Workers',
    default: 500,
    min: 1,
    max: 1000,
    doc: 'recipients of a topic notification one fan-out page writes, in one transaction, with their first delivery jobs',
    details: 'A larger page fans a large topic out in fewer round trips; a smaller one holds Redis for less time at once.',
  },
  HERALD_SHUTDOWN_MS: {
    kind: 'integer',
    group: 'Workers',
    default: 10_000,
    min: 0,
    max: 600_000,
    unit: 'ms',
    doc: 'graceful shutdown deadline: in-flight deliveries finish within it, the rest go back to the queue',
  },
  HERALD_STATUS_RETENTION_SECONDS: {
    kind: 'integer',
    group: 'Retention',
    default: 7 * DAY_SECONDS,
    min: 60,
    max: 365 * DAY_SECONDS,
    unit: 'seconds',
    doc: 'how long status records, and so idempotency keys, are kept after a notification ends',
    details: 'The SDK option `statusRetentionSeconds` has the same default and range.',
  },
  HERALD_DEAD_LETTER_RETENTION_SECONDS: {
    kind: 'integer',
    group: 'Retention',
    default: 30 * DAY_SECONDS,
    min: 60,
    max: 365 * DAY_SECONDS,
    unit: 'seconds',
    doc: 'how long dead letters are kept',
    details: 'The SDK option `deadLetterRetentionSeconds` has the same default and range.',
  },
  HERALD_EVENTS_RETENTION: {
    kind: 'integer',
    group: 'Retention',
    default: 100_000,
    min: 1000,
    max: 100_000_000,
    doc: 'events kept in the event log for `/v1/events` resumption (the Redis stream is capped at about this length; with shards, each shard keeps its share)',
    details:
      'Every status change of a notification adds one event; the oldest are trimmed past this count (approximately: Redis trims whole nodes of the stream). A client resuming from an event older than the oldest kept is told so by an `event: gap` message. The SDK option `eventsRetention` has the same default and range.',
  },
  HERALD_LOG_LEVEL: {
    kind: 'choice',
    group: 'Logs',
    default: 'info',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    doc: 'the least severe level that is logged',
  },
  HERALD_LOG_PRETTY: {
    kind: 'flag',
    group: 'Logs',
    default: false,
    doc: '`1` prints human-readable logs (pino-pretty) instead of JSON lines',
  },
} as const satisfies Record<string, EnvSpec>;

export type EnvName = keyof typeof ENV;

/** The names of the variables of one kind, e.g. `EnvNameOf<'flag'>`. */
export type EnvNameOf<K extends EnvSpec['kind']> = { [N in EnvName]: (typeof ENV)[N]['kind'] extends K ? N : never }[EnvName];

/** A numeric setting's default and the range it must lie in. */
export interface Bounds {
  readonly default: number;
  readonly min: number;
  readonly max: number;
}

// Settings the SDK takes as options too: the option shares the variable's default and bounds.

/** HERALD_SHARDS, shards. */
export const SHARDS: Bounds = ENV.HERALD_SHARDS;
/** Where Redis is when neither REDIS_URL nor the SDK's `redis` option says. */
export const DEFAULT_REDIS_URL = ENV.REDIS_URL.default;
/** Key prefix (HERALD_PREFIX, prefix); producers and workers must share it. */
export const DEFAULT_PREFIX = ENV.HERALD_PREFIX.default;
/** What a prefix may hold, in words (the pattern is config.ts's PREFIX_PATTERN). */
export const PREFIX_RULE = ENV.HERALD_PREFIX.rule;
/** HERALD_REPLICA_ACKS, replicaAcks. */
export const REPLICA_ACKS: Bounds = ENV.HERALD_REPLICA_ACKS;
/** HERALD_ENQUEUE_LINGER_MS, enqueueLingerMs. */
export const ENQUEUE_LINGER_MS: Bounds = ENV.HERALD_ENQUEUE_LINGER_MS;
/** HERALD_STATUS_RETENTION_SECONDS, statusRetentionSeconds. */
export const STATUS_RETENTION_SECONDS: Bounds = ENV.HERALD_STATUS_RETENTION_SECONDS;
/** HERALD_DEAD_LETTER_RETENTION_SECONDS, deadLetterRetentionSeconds. */
export const DEAD_LETTER_RETENTION_SECONDS: Bounds = ENV.HERALD_DEAD_LETTER_RETENTION_SECONDS;
/** HERALD_INBOX_MAX_ITEMS and HERALD_INBOX_RETENTION_SECONDS by default. */
export const INBOX_DEFAULTS = { maxItems: ENV.HERALD_INBOX_MAX_ITEMS.default, retentionSeconds: ENV.HERALD_INBOX_RETENTION_SECONDS.default } as const;
/** HERALD_EVENTS_RETENTION, eventsRetention. */
export const EVENTS_RETENTION: Bounds = ENV.HERALD_EVENTS_RETENTION;
/** HERALD_WEBPUSH_MAX_SUBSCRIPTIONS, webpushMaxSubscriptions. */
export const WEBPUSH_MAX_SUBSCRIPTIONS: Bounds = ENV.HERALD_WEBPUSH_MAX_SUBSCRIPTIONS;
