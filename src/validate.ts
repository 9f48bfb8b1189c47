/**
 * Validation shared by the SDK and the HTTP API: the schema check names every bad field, then the
 * rules a schema cannot express (a recipient is required, `sendAt` must fall before expiry, `data`
 * must fit 2 KiB, `url` must use an allowed scheme). Nothing is enqueued unless the whole input passes.
 */
import { randomUUID } from 'node:crypto';
import type { TSchema, Static } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { validationError, type ErrorDetail } from './errors.js';
import {
  CancelGroupSchema,
  InboxTokenRequestSchema,
  NotificationSchema,
  PreferencesSchema,
  PresenceOfflineSchema,
  PresenceSchema,
  PushSubscriptionSchema,
  RecipientSchema,
  TopicName,
  UserId,
} from './schemas.js';
import { EVENT_TYPES, type EventType, type Notification, type NotificationInput, type Preferences } from './types.js';
import { payloadCanFit } from './channels/webpush/payload.js';
import { isKnownTimeZone } from './quiet-hours.js';
import { decodePosition, encodePosition } from './event-ids.js';

export const DEFAULT_PRIORITY = 5;
export const DEFAULT_TTL_SECONDS = 86_400;
export const MAX_DATA_BYTES = 2048;
/** Deeper `data` is refused before it is serialised (deep JSON overflows the serialiser's stack). */
export const MAX_DATA_DEPTH = 32;

/** Nesting depth of a JSON value, measured without recursion. */
function jsonDepth(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > MAX_DATA_DEPTH) return deepest;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** `/targets/webpush/0/endpoint` → `targets.webpush.0.endpoint`. */
function fieldName(path: string): string {
  return path.replace(/^\//, '').split('/').join('.').replace(/~1/g, '/').replace(/~0/g, '~');
}

/** A pattern's regex says little to a caller; a schema that describes itself says what it wants. */
function messageOf(error: ValueError): string {
  const { description } = error.schema as { description?: unknown };
  return error.type === ValueErrorType.StringPattern && typeof description === 'string' ? `Expected ${description}` : error.message;
}

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

/** Every schema violation, one entry per field (the first message for that field). */
export function schemaErrors(schema: TSchema, value: unknown): ErrorDetail[] {
  // The compiled check is fast; the error walk runs only for input that fails it.
  let check = compiled.get(schema);
  if (!check) compiled.set(schema, (check = TypeCompiler.Compile(schema)));
  if (check.Check(value)) return [];
  const byField = new Map<string, string>();
  for (const error of Value.Errors(schema, value)) {
    const field = fieldName(error.path);
    // A union reports every branch; the field and one message are what a caller needs.
    if (!byField.has(field)) byField.set(field, messageOf(error));
  }
  return [...byField].map(([field, message]) => ({ field, message }));
}

/** Validates against a schema, throwing HERALD_ERR_VALIDATION that lists every bad field. */
export function assertSchema<T extends TSchema>(schema: T, value: unknown): Static<T> {
  const details = schemaErrors(schema, value);
  if (details.length > 0) throw validationError(details);
  return value as Static<T>;
}

function byteLength(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/** What validation depends on besides the input: the deployment's settings. */
export interface NotificationRules {
  /** URL schemes besides https: that `url` may use (HERALD_APP_SCHEMES), lower case, without `:`. */
  appSchemes: readonly string[];
}

const NO_APP_SCHEMES: NotificationRules = { appSchemes: [] };

/**
 * Why `url` cannot be a click target, or null. An allowlist, not a blocklist: `url` is opened by
 * browsers, Gotify clients (Gotify Android opens it as an intent when the message arrives) and
 * mail readers, so only `https:` and the deployment's own app schemes pass.
 */
function urlProblem(url: string, appSchemes: readonly string[]): string | null {
  const allowed = ['https:', ...appSchemes.map((s) => `${s}:`)].join(', ');
  // Browsers and URL parsers drop or rewrite these, so the link opened would not be the one checked.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses.
  if (/[\s\u0000-\u001f\u007f]/.test(url)) return 'Must not contain spaces or control characters';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `Expected an absolute URL with one of the schemes ${allowed}`;
  }
  const scheme = parsed.protocol.slice(0, -1);
  if (scheme === 'https') {
    return parsed.username || parsed.password ? 'Must not carry a user name or password' : null;
  }
  if (!appSchemes.includes(scheme)) return `The ${scheme}: scheme is not allowed; use ${allowed} (HERALD_APP_SCHEMES lists the app schemes)`;
  return url.length > parsed.protocol.length ? null : `Expected something after ${parsed.protocol}`;
}

/**
 * What keeps `escalateAfterSeconds` from applying: the inbox must come first in the notification's
 * own chain (a chain from the recipient or the default is checked when delivered: without an inbox
 * delivery there is nothing to wait on, and the chain runs as usual), it needs a recipient whose
 * inbox it is, and the wait must end before the notification expires.
 */
function escalationProblems(n: NotificationInput, ttlSeconds: number): ErrorDetail[] {
  if (n.escalateAfterSeconds === undefined) return [];
  const field = 'escalateAfterSeconds';
  if (n.channels !== undefined && n.channels[0] !== 'inbox') {
    return [{ field, message: 'Escalation waits on the inbox item: put `inbox` first in `channels`' }];
  }
  if (n.to === undefined && n.topic === undefined) return [{ field, message: 'Escalation needs a recipient (`to` or a `topic`): the inbox is theirs' }];
  if (n.escalateAfterSeconds >= ttlSeconds) return [{ field, message: 'The wait must end before the notification expires (ttlSeconds)' }];
  return [];
}

/**
 * What keeps `digest` from applying, at most one problem per field: a window gathers the
 * notifications of one recipient (`to`) with one `groupKey`, opens when the first is accepted and
 * sends them when it ends, which must come before that notification expires.
 */
function digestProblems(n: NotificationInput, ttlSeconds: number): ErrorDetail[] {
  if (n.digest === undefined) return [];
  const problems: ErrorDetail[] = [];
  const grouping =
    n.groupKey === undefined
      ? 'A digest needs a groupKey: it merges the notifications of one recipient with one groupKey'
      : n.to === undefined
        ? 'A digest needs a recipient (`to`): it merges the notifications of one recipient with one groupKey'
        : (n.delayMs ?? 0) > 0 || n.sendAt !== undefined
          ? 'A digest is sent when its window ends; it cannot also have delayMs or sendAt'
          : null;
  if (grouping) problems.push({ field: 'digest', message: grouping });
  if (n.digest.windowSeconds >= ttlSeconds) {
    problems.push({ field: 'digest.windowSeconds', message: 'The window must end before the notification expires (ttlSeconds)' });
  }
  return problems;
}

/**
 * Validates one notification and applies defaults. `now` anchors `delayMs`, which is turned into an
 * absolute `sendAt` so that a retried enqueue keeps the original schedule.
 */
export function validateNotification(input: unknown, now: number = Date.now(), rules: NotificationRules = NO_APP_SCHEMES): Notification {
  const details = schemaErrors(NotificationSchema, input);
  if (details.length > 0) throw validationError(details);
  const n = input as NotificationInput;

  const hasTargets = n.targets && (n.targets.gotify || n.targets.email || (n.targets.webpush?.length ?? 0) > 0);
  if (n.topic !== undefined) {
    if (n.to !== undefined) details.push({ field: 'to', message: 'Give either a topic or a recipient (`to`), not both' });
    // Digest windows open at acceptance, per recipient; a topic's recipients are written later, by the fan-out.
    if (n.digest !== undefined) details.push({ field: 'digest', message: 'A topic notification cannot be a digest: send a digest to each member instead' });
    if (n.targets !== undefined)
      details.push({ field: 'targets', message: 'A topic notification reaches its members through the registry; leave out `targets`' });
  } else if (n.exclude !== undefined) {
    details.push({ field: 'exclude', message: 'Only a topic notification can exclude members; give `topic` too' });
  } else if (!n.to && !hasTargets) details.push({ field: 'to', message: 'Give a recipient (`to`), explicit `targets` or a `topic`' });
  if (n.data !== undefined && jsonDepth(n.data) > MAX_DATA_DEPTH) {
    details.push({ field: 'data', message: `Must not nest deeper than ${MAX_DATA_DEPTH} levels` });
  } else if (n.data !== undefined && byteLength(n.data) > MAX_DATA_BYTES) {
    details.push({ field: 'data', message: `Must serialise to at most ${MAX_DATA_BYTES} bytes of JSON` });
  }
  if (n.url !== undefined) {
    const problem = urlProblem(n.url, rules.appSchemes);
    if (problem) details.push({ field: 'url', message: problem });
  }
  const ttlSeconds = n.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  let sendAtMs: number | undefined;
  if (n.delayMs !== undefined && n.sendAt !== undefined) {
    details.push({ field: 'sendAt', message: 'Give either delayMs or sendAt, not both' });
  } else if (n.sendAt !== undefined) {
    sendAtMs = Date.parse(n.sendAt);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(n.sendAt) || Number.isNaN(sendAtMs)) {
      details.push({ field: 'sendAt', message: 'Expected an ISO 8601 date-time such as 2026-01-04T09:30:00Z' });
      sendAtMs = undefined;
    }
  } else if (n.delayMs !== undefined && n.delayMs > 0) {
    sendAtMs = now + n.delayMs;
  }
  if (sendAtMs !== undefined && sendAtMs >= now + ttlSeconds * 1000) {
    details.push({ field: n.sendAt !== undefined ? 'sendAt' : 'delayMs', message: 'The notification would expire (ttlSeconds) before it is sent' });
  }
  if (n.topic === undefined) details.push(...digestProblems(n, ttlSeconds));
  details.push(...escalationProblems(n, ttlSeconds));
  if (details.length > 0) throw validationError(details);

  const notification: Notification = {
    id: n.id ?? randomUUID(),
    message: n.message,
    priority: n.priority ?? DEFAULT_PRIORITY,
    ttlSeconds,
  };
  // Copy optional fields only when present, so stored JSON has no `undefined` holes.
  if (n.to !== undefined) notification.to = n.to;
  if (n.targets !== undefined) notification.targets = n.targets;
  if (n.title !== undefined) notification.title = n.title;
  if (n.url !== undefined) notification.url = n.url;
  if (n.category !== undefined) notification.category = n.category;
  if (n.data !== undefined) notification.data = n.data;
  if (n.channels !== undefined) notification.channels = n.channels;
  if (sendAtMs !== undefined && sendAtMs > now) notification.sendAt = new Date(sendAtMs).toISOString();
  if (n.collapseKey !== undefined) notification.collapseKey = n.collapseKey;
  if (n.skipIfOnline !== undefined) notification.skipIfOnline = n.skipIfOnline;
  if (n.topic !== undefined) notification.topic = n.topic;
  if (n.exclude !== undefined && n.exclude.length > 0) notification.exclude = [...new Set(n.exclude)];
  if (n.skipIfPresentIn !== undefined) notification.skipIfPresentIn = n.skipIfPresentIn;
  if (n.groupKey !== undefined) notification.groupKey = n.groupKey;
  if (n.digest !== undefined) notification.digest = { windowSeconds: n.digest.windowSeconds };
  if (n.escalateAfterSeconds !== undefined) notification.escalateAfterSeconds = n.escalateAfterSeconds;
  // Web Push can cut the message but nothing else (channels/webpush/payload.ts); refuse what cannot fit.
  if ((!notification.channels || notification.channels.includes('webpush')) && !payloadCanFit(notification)) {
    throw validationError([
      { field: 'data', message: 'With this data, url and title the Web Push payload exceeds 4096 bytes even with the message cut; make data or url shorter' },
    ]);
  }
  return notification;
}

export function validateTopic(topic: unknown): string {
  const details = schemaErrors(TopicName, topic);
  if (details.length > 0) throw validationError(details.map((d) => ({ ...d, field: 'topic' })));
  return topic as string;
}

export function validateUserId(userId: unknown): string {
  const details = schemaErrors(UserId, userId);
  if (details.length > 0) throw validationError(details.map((d) => ({ ...d, field: 'userId' })));
  return userId as string;
}

/**
 * What the Preferences schema cannot say: the quiet hours' zone is one Intl knows, and the window
 * is not empty. `field` is where the preferences sit in the body (`preferences.` in a recipient).
 */
function preferenceProblems(preferences: Preferences, field = ''): ErrorDetail[] {
  const quiet = preferences.quietHours;
  if (!quiet) return [];
  const details: ErrorDetail[] = [];
  if (!isKnownTimeZone(quiet.timezone)) {
    details.push({ field: `${field}quietHours.timezone`, message: `Unknown time zone "${quiet.timezone}": expected an IANA name such as Europe/Paris` });
  }
  if (quiet.start === quiet.end) details.push({ field: `${field}quietHours.end`, message: 'Must differ from start: the window would be empty' });
  return details;
}

/** Validates Preferences, throwing HERALD_ERR_VALIDATION that names every bad field. */
export function validatePreferences(value: unknown): Preferences {
  const preferences = assertSchema(PreferencesSchema, value);
  const details = preferenceProblems(preferences);
  if (details.length > 0) throw validationError(details);
  return preferences;
}

export function validateRecipient(value: unknown) {
  const recipient = assertSchema(RecipientSchema, value);
  const details = recipient.preferences ? preferenceProblems(recipient.preferences, 'preferences.') : [];
  if (details.length > 0) throw validationError(details);
  return recipient;
}

export const validatePushSubscription = (value: unknown) => assertSchema(PushSubscriptionSchema, value);
export const validatePresence = (value: unknown) => assertSchema(PresenceSchema, value);
export const validatePresenceOffline = (value: unknown) => assertSchema(PresenceOfflineSchema, value);
export const validateCancelGroup = (value: unknown) => assertSchema(CancelGroupSchema, value);
export const validateInboxTokenRequest = (value: unknown) => assertSchema(InboxTokenRequestSchema, value ?? {});

/** A stream id as a client gives it (`Last-Event-ID`, `after`): `ms` or `ms-seq`, decimal. */
const STREAM_ID = /^\d{1,20}(-\d{1,20})?$/;

/** What `/v1/events` and `herald.events()` read: which types, whose, and after which event id. */
export interface EventQuery {
  types?: ReadonlySet<EventType> | undefined;
  to?: string | undefined;
  after?: string | undefined;
  /** With `after`: the last entry id read in each shard's event log, shard 0 first (src/event-ids.ts). */
  afterIds?: string[] | undefined;
}

/**
 * Checks an event query: `types` a list (or comma-separated text) of known event types, `to` a
 * user id, `after` an event id. `fields` names where each came from, for the error.
 */
export function validateEventQuery(
  input: { types?: unknown; to?: unknown; after?: unknown },
  fields: { types: string; to: string; after: string } = { types: 'types', to: 'to', after: 'after' },
  shards = 1,
): EventQuery {
  const details: ErrorDetail[] = [];
  const query: EventQuery = {};
  if (input.types !== undefined) {
    const list = typeof input.types === 'string' ? input.types.split(',').filter((type) => type !== '') : input.types;
    const known = new Set<string>(EVENT_TYPES);
    if (!Array.isArray(list) || list.length === 0 || list.some((type) => typeof type !== 'string' || !known.has(type))) {
      details.push({ field: fields.types, message: `Must list event types among ${EVENT_TYPES.join(', ')}` });
    } else {
      query.types = new Set(list as EventType[]);
    }
  }
  if (input.to !== undefined) {
    const problems = schemaErrors(UserId, input.to);
    if (problems.length > 0) details.push(...problems.map((d) => ({ ...d, field: fields.to })));
    else query.to = input.to as string;
  }
  if (input.after !== undefined && shards > 1) {
    const afterIds = typeof input.after === 'string' ? decodePosition(input.after, shards) : null;
    if (!afterIds) {
      details.push({
        field: fields.after,
        message: `Must be the id: of an event of this stream: a position with one part per shard (${shards}), such as ${encodePosition(new Array<string>(shards).fill('1764511200000-3'))}`,
      });
    } else {
      query.after = input.after as string;
      query.afterIds = afterIds;
    }
  } else if (input.after !== undefined) {
    if (typeof input.after !== 'string' || !STREAM_ID.test(input.after)) {
      details.push({ field: fields.after, message: 'Must be an event id such as 1764511200000-3' });
    } else {
      query.after = input.after.includes('-') ? input.after : `${input.after}-0`;
      query.afterIds = [query.after];
    }
  }
  if (details.length > 0) throw validationError(details);
  return query;
}
