/**
 * Every code Herald gives out, in one place. Three kinds:
 * - HTTP_ERRORS: what an API answer, an SDK exception or a CLI message carries (`HERALD_ERR_…`),
 *   with its HTTP status and default message;
 * - STARTUP_ERRORS: the errors that stop a command before it serves (bad settings, an unsafe or
 *   missing Redis); they have no HTTP status;
 * - attempt codes: why a delivery attempt ended as it did (`HERALD_…` on an Attempt, in BullMQ's
 *   failure message and in the worker's retry log). Fixed ones are in ATTEMPT_CODES; those built
 *   from a provider's value (an errno, an HTTP status, an SMTP reply) are families in
 *   ATTEMPT_CODE_FAMILIES. Modules take every attempt code from `attemptCode`, so none is a loose
 *   string.
 * Callers match on codes, never on message text. A code's string never changes once given out:
 * statuses, dead letters and dashboards keep it. test/unit/codes-docs.test.ts checks that every
 * code here is documented (docs/api.md, docs/channels.md) and used, and that the docs name no
 * other.
 */
import type { AttemptOutcome } from './types.js';

export const HTTP_ERRORS = {
  HERALD_ERR_VALIDATION: { status: 400, message: 'The request is invalid; see details for every bad field' },
  HERALD_ERR_INVALID_JSON: { status: 400, message: 'The request body is not valid JSON' },
  HERALD_ERR_WEBHOOK_URL_REFUSED: { status: 400, message: 'The webhook URL is refused: it must be https: on a public address' },
  HERALD_ERR_BAD_REQUEST: { status: 400, message: 'The request is malformed (its path, query or headers)' },
  HERALD_ERR_UNAUTHORIZED: { status: 401, message: 'Missing or unknown API key' },
  HERALD_ERR_FORBIDDEN: { status: 403, message: 'This API key lacks the scope this route needs' },
  HERALD_ERR_NOT_FOUND: { status: 404, message: 'No such resource' },
  HERALD_ERR_METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  HERALD_ERR_REQUEST_TIMEOUT: { status: 408, message: 'The request was not received in time' },
  HERALD_ERR_CONFLICT: { status: 409, message: 'The resource is not in a state that allows this' },
  HERALD_ERR_ALREADY_FINISHED: { status: 409, message: 'The notification has already ended' },
  HERALD_ERR_PRECONDITION_FAILED: { status: 412, message: 'A precondition of the request does not hold' },
  HERALD_ERR_PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is larger than this route accepts' },
  HERALD_ERR_URI_TOO_LONG: { status: 414, message: 'The request path is too long' },
  HERALD_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json' },
  HERALD_ERR_RANGE_NOT_SATISFIABLE: { status: 416, message: 'The requested range is not satisfiable' },
  HERALD_ERR_HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large' },
  HERALD_ERR_CHANNEL_DISABLED: { status: 409, message: 'This channel is not configured' },
  HERALD_ERR_REDIS_UNAVAILABLE: { status: 503, message: 'Redis is unreachable; retry later' },
  HERALD_ERR_INTERNAL: { status: 500, message: 'Internal error' },
} as const satisfies Record<`HERALD_ERR_${string}`, { status: number; message: string }>;

export type HttpErrorCode = keyof typeof HTTP_ERRORS;

export const STARTUP_ERRORS = {
  HERALD_ERR_CONFIG: { meaning: 'a setting is missing or invalid; the message lists every bad variable at once' },
  HERALD_ERR_REDIS_EVICTION: { meaning: "Redis's `maxmemory-policy` is not `noeviction`, so it could evict queued notifications" },
  HERALD_ERR_REDIS_NOT_FOUND: {
    meaning: '`herald start` without `REDIS_URL`: nothing answers on 127.0.0.1:6379 and there is no `redis-server` on PATH',
  },
  HERALD_ERR_REDIS_ADDRESS_TAKEN: {
    meaning:
      '`herald start` without `REDIS_URL`: 127.0.0.1:6379 is held by a server Herald cannot use (not Redis, or one that asks for a password Herald does not have)',
  },
  HERALD_ERR_SHARDS_MISMATCH: {
    meaning: "`HERALD_SHARDS` (or the SDK's `shards`) differs from the shard count the deployment was started with (Redis key `prefix:shards`)",
  },
  HERALD_ERR_DEV_KEYS: {
    meaning:
      '`herald start` on a first-run machine: `./data/herald-dev.json` exists but cannot be used (unreadable, not JSON, a weak or missing key); the message names the fields',
  },
} as const satisfies Record<`HERALD_ERR_${string}`, { meaning: string }>;

export type StartupErrorCode = keyof typeof STARTUP_ERRORS;

export interface AttemptCodeInfo {
  /** The outcomes an attempt with this code can have; empty for a code that is only reported, never recorded. */
  outcomes: readonly AttemptOutcome[];
  meaning: string;
}

export const ATTEMPT_CODES = {
  HERALD_TIMEOUT: {
    outcomes: ['transient'],
    meaning: 'the provider did not answer (HTTP) or finish (SMTP) before the deadline, or shutdown cut the send short',
  },
  HERALD_NET_ERROR: { outcomes: ['transient'], meaning: 'a network failure that carries no error code' },
  HERALD_CHANNEL_ERROR: { outcomes: ['transient'], meaning: 'the channel failed in a way it does not classify (a bug; the cause is in the log)' },
  HERALD_JOB_ABANDONED: {
    outcomes: ['transient'],
    meaning: 'BullMQ gave up on the job (a worker kept dying while holding it); the notification is dead-lettered with this attempt',
  },
  HERALD_RETRY_ROUND: {
    outcomes: [],
    meaning: "never on an attempt: the reason the worker's retry log gives a new round over the channels that failed transiently when no attempt says why",
  },
  HERALD_CHANNEL_DISABLED: { outcomes: ['skipped'], meaning: 'the channel is not configured; the chain moves on' },
  HERALD_NO_ADDRESS: { outcomes: ['skipped'], meaning: 'the recipient has no address for the channel; the chain moves on' },
  HERALD_UNKNOWN_RECIPIENT: {
    outcomes: ['skipped'],
    meaning: '`to` was not in the registry when the notification was accepted, nor when it was due, and it names no explicit `targets`',
  },
  HERALD_RECIPIENT_DELETED: {
    outcomes: ['skipped'],
    meaning: '`to` was registered when the notification was accepted and deleted before it was delivered; no explicit `targets`',
  },
  HERALD_RECIPIENT_ONLINE: { outcomes: ['skipped'], meaning: '`skipIfOnline` and the recipient was online' },
  HERALD_RECIPIENT_PRESENT: {
    outcomes: ['skipped'],
    meaning: "`skipIfPresentIn` and one of the recipient's devices had a live presence with that context",
  },
  HERALD_MUTED: { outcomes: ['skipped'], meaning: "the notification's `category` is among the recipient's `muteCategories`" },
  HERALD_CHANNEL_MUTED: {
    outcomes: ['skipped'],
    meaning:
      "the channel is among the recipient's `muteChannels`; the chain moves on (when every channel of the chain is muted, the notification ends `skipped` with this code)",
  },
  HERALD_WEBPUSH_ENDPOINT_REFUSED: {
    outcomes: ['permanent'],
    meaning: 'the push endpoint is not `https:` on a public address (checked again at send time, DNS included)',
  },
  HERALD_WEBHOOK_URL_REFUSED: {
    outcomes: ['permanent'],
    meaning: 'the webhook URL is not `https:` on a public address (checked again at send time, DNS included)',
  },
  HERALD_INBOX_UNAVAILABLE: {
    outcomes: ['transient'],
    meaning: "the recipient's inbox could not be written (Redis failed the write); retried like a provider's outage",
  },
  HERALD_WEBPUSH_PAYLOAD_TOO_LARGE: { outcomes: ['permanent'], meaning: 'the payload does not fit 4096 bytes even with an empty message' },
  HERALD_WEBPUSH_BAD_KEYS: { outcomes: ['permanent'], meaning: "the subscription's `p256dh` or `auth` key is not one a browser could have made" },
  HERALD_SMTP_AUTH: {
    outcomes: ['permanent', 'transient'],
    meaning: 'the SMTP login was refused or credentials are missing (transient on a 4xx reply such as 454)',
  },
  HERALD_SMTP_TLS_REQUIRED: {
    outcomes: ['permanent', 'transient'],
    meaning: 'TLS is required (credentials in `SMTP_URL`, or `?requireTLS=true`) and the server refused or did not offer STARTTLS (transient on a 4xx reply)',
  },
  HERALD_SMTP_ENVELOPE: { outcomes: ['permanent'], meaning: 'the sender or recipient address is not valid; nothing was sent' },
  HERALD_SMTP_MESSAGE: { outcomes: ['permanent'], meaning: 'the message cannot be sent as it is; nothing was sent' },
  HERALD_SMTP_REQUIRETLS: { outcomes: ['permanent'], meaning: 'the server does not support REQUIRETLS' },
  HERALD_SMTP_MAXRECIPIENTS: { outcomes: ['permanent'], meaning: 'too many recipients for the server' },
  HERALD_SMTP_CONFIG: { outcomes: ['permanent'], meaning: 'the SMTP settings are not valid' },
  HERALD_SMTP_ERROR: { outcomes: ['transient'], meaning: 'an SMTP failure that carries neither a reply nor an error code' },
} as const satisfies Record<`HERALD_${string}`, AttemptCodeInfo>;

export type FixedAttemptCode = keyof typeof ATTEMPT_CODES;

export interface AttemptCodeFamily extends AttemptCodeInfo {
  /** How the docs write the family, e.g. `HERALD_NET_<errno>`. */
  pattern: string;
  /** Every code of the family, and nothing else. */
  match: RegExp;
}

/** Codes built from a provider's value; each has its constructor in `attemptCode`, under the same name. */
export const ATTEMPT_CODE_FAMILIES = {
  net: {
    pattern: 'HERALD_NET_<errno>',
    match: /^HERALD_NET_[A-Z][A-Z0-9_]*$/,
    outcomes: ['transient'],
    meaning:
      "a connection failed: refused or reset, DNS, TLS or certificate, a step timeout; `<errno>` is Node's, undici's or nodemailer's code (`ECONNREFUSED`, `UND_ERR_SOCKET`, `ETLS`)",
  },
  gotifyHttp: {
    pattern: 'HERALD_GOTIFY_HTTP_<status>',
    match: /^HERALD_GOTIFY_HTTP_[1-5]\d\d$/,
    outcomes: ['transient', 'permanent'],
    meaning: 'Gotify answered this status: 408, 425, 429 and 5xx are transient, other 4xx permanent',
  },
  webpushHttp: {
    pattern: 'HERALD_WEBPUSH_HTTP_<status>',
    match: /^HERALD_WEBPUSH_HTTP_[1-5]\d\d$/,
    outcomes: ['gone', 'transient', 'permanent'],
    meaning: 'the push service answered this status: 404 and 410 are gone (the subscription is removed), 408, 425, 429 and 5xx transient, other 4xx permanent',
  },
  ntfyHttp: {
    pattern: 'HERALD_NTFY_HTTP_<status>',
    match: /^HERALD_NTFY_HTTP_[1-5]\d\d$/,
    outcomes: ['transient', 'permanent'],
    meaning: 'the ntfy server answered this status: 408, 425, 429 and 5xx are transient, other 4xx permanent',
  },
  webhookHttp: {
    pattern: 'HERALD_WEBHOOK_HTTP_<status>',
    match: /^HERALD_WEBHOOK_HTTP_[1-5]\d\d$/,
    outcomes: ['gone', 'transient', 'permanent'],
    meaning:
      "the recipient's webhook endpoint answered this status: 410 is gone (the URL is removed from the recipient), 408, 425, 429 and 5xx transient, other 4xx (and a 3xx, never followed) permanent",
  },
  smtpReply: {
    pattern: 'HERALD_SMTP_<reply>',
    match: /^HERALD_SMTP_[45]\d\d$/,
    outcomes: ['transient', 'permanent'],
    meaning: 'the SMTP server answered this reply code: 4xx is transient (greylisting, 421, 452), 5xx permanent (550 unknown recipient, 552, 554)',
  },
} as const satisfies Record<string, AttemptCodeFamily>;

export type AttemptCodeFamilyName = keyof typeof ATTEMPT_CODE_FAMILIES;

export type AttemptCode =
  | FixedAttemptCode
  | `HERALD_NET_${string}`
  | `HERALD_GOTIFY_HTTP_${number}`
  | `HERALD_WEBPUSH_HTTP_${number}`
  | `HERALD_NTFY_HTTP_${number}`
  | `HERALD_WEBHOOK_HTTP_${number}`
  | `HERALD_SMTP_${number}`;

/** The HTTP providers whose answers have a code family of their own. */
export type HttpProvider = 'GOTIFY' | 'WEBPUSH' | 'NTFY' | 'WEBHOOK';

const fixedAttemptCodes = Object.fromEntries(Object.keys(ATTEMPT_CODES).map((code) => [code, code])) as { readonly [C in FixedAttemptCode]: C };

/**
 * Where modules take attempt codes from: `attemptCode.HERALD_TIMEOUT` for a fixed one,
 * `attemptCode.net('ECONNREFUSED')` for a family.
 */
export const attemptCode = {
  ...fixedAttemptCodes,
  net: (errno: string): `HERALD_NET_${string}` => `HERALD_NET_${errno}`,
  gotifyHttp: (status: number): `HERALD_GOTIFY_HTTP_${number}` => `HERALD_GOTIFY_HTTP_${status}`,
  webpushHttp: (status: number): `HERALD_WEBPUSH_HTTP_${number}` => `HERALD_WEBPUSH_HTTP_${status}`,
  ntfyHttp: (status: number): `HERALD_NTFY_HTTP_${number}` => `HERALD_NTFY_HTTP_${status}`,
  webhookHttp: (status: number): `HERALD_WEBHOOK_HTTP_${number}` => `HERALD_WEBHOOK_HTTP_${status}`,
  smtpReply: (reply: number): `HERALD_SMTP_${number}` => `HERALD_SMTP_${reply}`,
} as const satisfies { readonly [F in AttemptCodeFamilyName]: (value: never) => AttemptCode } & { readonly [C in FixedAttemptCode]: C };
