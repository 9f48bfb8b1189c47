/**
 * JSON Schemas (TypeBox) of everything Herald accepts. The same schemas validate SDK calls and
 * HTTP bodies, and describe the API in OpenAPI, so the three can never disagree.
 */
import { Type } from '@sinclair/typebox';
import { CHANNEL_NAMES } from './types.js';

export const ID_PATTERN = '^[A-Za-z0-9._:-]+$';

export const NotificationId = Type.String({ minLength: 1, maxLength: 128, pattern: ID_PATTERN });
export const UserId = Type.String({ minLength: 1, maxLength: 128 });
/** A topic's name: the same characters as a notification id (it is part of keys and paths). */
export const TopicName = Type.String({ minLength: 1, maxLength: 128, pattern: ID_PATTERN, description: '1 to 128 of the characters A-Z a-z 0-9 . _ : -' });
/** Members left out of a topic notification (its sender): at most this many. */
export const MAX_EXCLUDED = 100;
export const ChannelNameSchema = Type.Union(CHANNEL_NAMES.map((name) => Type.Literal(name)));
export const ChannelList = Type.Array(ChannelNameSchema, { minItems: 1, maxItems: CHANNEL_NAMES.length, uniqueItems: true });

export const PushSubscriptionSchema = Type.Object(
  {
    endpoint: Type.String({ minLength: 1, maxLength: 2048 }),
    expirationTime: Type.Optional(Type.Union([Type.Null(), Type.Number()])),
    keys: Type.Object(
      {
        p256dh: Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9_=+/-]+$' }),
        auth: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_=+/-]+$' }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export const GotifyTarget = Type.Object({ token: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false });

/** An ntfy topic: what ntfy itself accepts in a topic name. */
export const NtfyTarget = Type.Object(
  { topic: Type.String({ pattern: '^[-_A-Za-z0-9]{1,64}$', description: 'an ntfy topic: 1 to 64 letters, digits, - or _' }) },
  { additionalProperties: false },
);

/** A webhook URL; the endpoint guard checks it further before it is stored. */
export const WebhookTarget = Type.Object({ url: Type.String({ minLength: 1, maxLength: 2048 }) }, { additionalProperties: false });

/** A host name label: letters (also non-ASCII, for internationalised names), digits and inner hyphens. */
const LABEL = '[A-Za-z0-9\\u00a1-\\uffff](?:[A-Za-z0-9\\u00a1-\\uffff-]{0,61}[A-Za-z0-9\\u00a1-\\uffff])?';
/** A last label, which starts with a letter: `a@127.0.0.1` is an address literal, not a domain. */
const TOP_LABEL = '[A-Za-z\\u00a1-\\uffff](?:[A-Za-z0-9\\u00a1-\\uffff-]{0,61}[A-Za-z0-9\\u00a1-\\uffff])?';

/**
 * An address on a dotted domain: `root@localhost` and `a@[127.0.0.1]` name this machine or an
 * address literal, which mail must not be sent to on a caller's say-so.
 */
export const EmailAddress = Type.String({
  minLength: 3,
  maxLength: 254,
  pattern: `^[^\\s@<>()\\[\\]\\\\",;:]+@(?:${LABEL}\\.)+${TOP_LABEL}$`,
  description: 'an email address on a dotted domain, such as bob@example.org',
});

export const TargetsSchema = Type.Object(
  {
    gotify: Type.Optional(GotifyTarget),
    email: Type.Optional(EmailAddress),
    webpush: Type.Optional(Type.Array(PushSubscriptionSchema, { maxItems: 50 })),
  },
  { additionalProperties: false },
);

/** A device's context in its presence (`room:42`), and what `skipIfPresentIn` names. */
export const PresenceContext = Type.String({ minLength: 1, maxLength: 128 });
export const PresenceDeviceName = Type.String({ minLength: 1, maxLength: 64 });
/** `digest`: merge a recipient's notifications of one groupKey into one delivery per window. */
export const DigestSchema = Type.Object({ windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }) }, { additionalProperties: false });

export const NotificationSchema = Type.Object(
  {
    id: Type.Optional(NotificationId),
    to: Type.Optional(UserId),
    targets: Type.Optional(TargetsSchema),
    title: Type.Optional(Type.String({ maxLength: 250 })),
    message: Type.String({ minLength: 1, maxLength: 4000 }),
    priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
    url: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    category: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    channels: Type.Optional(ChannelList),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_419_200 })),
    delayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_419_200_000 })),
    sendAt: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    collapseKey: Type.Optional(Type.String({ minLength: 1, maxLength: 32, pattern: '^[A-Za-z0-9_-]+$' })),
    skipIfOnline: Type.Optional(Type.Boolean()),
    topic: Type.Optional(TopicName),
    exclude: Type.Optional(Type.Array(UserId, { maxItems: MAX_EXCLUDED })),
    skipIfPresentIn: Type.Optional(PresenceContext),
    groupKey: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    digest: Type.Optional(DigestSchema),
    escalateAfterSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
  },
  { additionalProperties: false },
);

/** `POST /v1/notifications/cancel`: the group whose pending notifications to cancel. */
export const CancelGroupSchema = Type.Object({ to: UserId, groupKey: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });

export const CancelGroupResultSchema = Type.Object({ canceled: Type.Integer({ minimum: 0 }) });

export const BatchSchema = Type.Object({ notifications: Type.Array(Type.Unknown(), { minItems: 1, maxItems: 1000 }) }, { additionalProperties: false });

const ClockTime = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'a wall-clock time HH:MM from 00:00 to 23:59' });

/** The schema part of Preferences; validate.ts adds the rules a schema cannot say (a known zone, start ≠ end). */
export const PreferencesSchema = Type.Object(
  {
    muteCategories: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 100, uniqueItems: true })),
    muteChannels: Type.Optional(Type.Array(ChannelNameSchema, { maxItems: CHANNEL_NAMES.length, uniqueItems: true })),
    quietHours: Type.Optional(
      Type.Object(
        {
          timezone: Type.String({ minLength: 1, maxLength: 64, description: 'an IANA time zone, such as Europe/Paris' }),
          start: ClockTime,
          end: ClockTime,
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const RecipientSchema = Type.Object(
  {
    userId: Type.Optional(UserId),
    email: Type.Optional(EmailAddress),
    gotify: Type.Optional(GotifyTarget),
    ntfy: Type.Optional(NtfyTarget),
    webhook: Type.Optional(WebhookTarget),
    channels: Type.Optional(ChannelList),
    preferences: Type.Optional(PreferencesSchema),
  },
  { additionalProperties: false },
);

export const PresenceSchema = Type.Object(
  {
    ttlSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
    device: Type.Optional(PresenceDeviceName),
    context: Type.Optional(PresenceContext),
  },
  { additionalProperties: false },
);

/** `POST /v1/recipients/:userId/inbox-token`: the token's lifetime (see store/inbox-tokens.ts for the bounds). */
export const InboxTokenRequestSchema = Type.Object(
  { ttlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 86_400 })) },
  { additionalProperties: false },
);

/** An InboxItem, as the inbox routes answer it. */
export const InboxItemSchema = Type.Object({
  id: Type.String(),
  notificationId: Type.String(),
  title: Type.Optional(Type.String()),
  message: Type.String(),
  url: Type.Optional(Type.String()),
  category: Type.Optional(Type.String()),
  data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  createdAt: Type.String({ format: 'date-time' }),
  readAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

export const InboxPageSchema = Type.Object({
  items: Type.Array(InboxItemSchema),
  unread: Type.Integer({ minimum: 0 }),
  next: Type.Union([Type.String(), Type.Null()]),
});

export const InboxTokenSchema = Type.Object({ token: Type.String(), expiresAt: Type.String({ format: 'date-time' }) });

export const PresenceOfflineSchema = Type.Object({ device: Type.Optional(PresenceDeviceName) }, { additionalProperties: false });

export const ErrorResponse = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Array(Type.Object({ field: Type.String(), message: Type.String() })),
  }),
});

export const AttemptSchema = Type.Object({
  channel: ChannelNameSchema,
  at: Type.String(),
  outcome: Type.Union(['delivered', 'transient', 'permanent', 'gone', 'skipped'].map((o) => Type.Literal(o))),
  statusCode: Type.Optional(Type.Integer()),
  code: Type.Optional(Type.String()),
  error: Type.Optional(Type.String()),
  durationMs: Type.Number(),
  subscriptionId: Type.Optional(Type.String()),
  tokenKind: Type.Optional(Type.Union(['explicit', 'recipient', 'shared'].map((k) => Type.Literal(k)))),
});

export const EnqueueResultSchema = Type.Object({
  id: Type.String(),
  status: Type.String(),
  duplicate: Type.Boolean(),
  recipients: Type.Optional(Type.Integer({ minimum: 0, description: 'topic notifications: the members at acceptance less the excluded' })),
});

export const RecipientCountsSchema = Type.Object(
  { total: Type.Integer({ minimum: 0 }) },
  { additionalProperties: Type.Integer({ minimum: 0 }), description: 'recipients in total and by the status of their own notification' },
);

export const StatusSchema = Type.Object({
  id: Type.String(),
  status: Type.String(),
  to: Type.Optional(Type.String()),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  channel: Type.Optional(Type.String()),
  attempts: Type.Array(AttemptSchema),
  attemptsOmitted: Type.Optional(Type.Integer()),
  mergedInto: Type.Optional(Type.String({ description: 'for status `merged`: the id of the digest it was merged into' })),
  topic: Type.Optional(Type.String()),
  recipients: Type.Optional(RecipientCountsSchema),
});

/** A page of a topic's members. */
export const TopicMembersPageSchema = Type.Object({ items: Type.Array(UserId), next: Type.Union([Type.String(), Type.Null()]) });

/** A page of a topic notification's recipients. */
export const TopicRecipientsPageSchema = Type.Object({
  items: Type.Array(Type.Object({ to: UserId, id: Type.String(), status: Type.String() })),
  next: Type.Union([Type.String(), Type.Null()]),
});

/*
 * Answers, for the OpenAPI document only: Herald writes its answers itself, so these describe
 * them and never filter them.
 */

export const RecipientResponseSchema = Type.Object({
  userId: UserId,
  email: Type.Optional(Type.String()),
  gotify: Type.Optional(Type.Object({ token: Type.String({ description: 'masked: only the last 4 characters show, as in ****wxyz' }) })),
  ntfy: Type.Optional(Type.Object({ topic: Type.String() })),
  webhook: Type.Optional(Type.Object({ url: Type.String({ description: "the receiver's origin; the path is masked like the token" }) })),
  channels: Type.Optional(ChannelList),
  preferences: Type.Optional(PreferencesSchema),
  webpush: Type.Optional(
    Type.Array(
      Type.Object({
        id: Type.String(),
        endpoint: Type.String({ description: "the push service's origin; the path is masked like the token" }),
        createdAt: Type.String(),
      }),
    ),
  ),
});

export const DeadLetterSchema = Type.Object({
  id: Type.String(),
  notification: NotificationSchema,
  failedAt: Type.String(),
  attempts: Type.Array(AttemptSchema),
  attemptsOmitted: Type.Optional(Type.Integer()),
  replays: Type.Integer({ minimum: 0 }),
});

const Rate = Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()]);
const Milliseconds = Type.Union([Type.Number({ minimum: 0 }), Type.Null()]);

export const ChannelStatsSchema = Type.Object({
  attempts: Type.Integer({ minimum: 0 }),
  delivered: Type.Integer({ minimum: 0 }),
  failedAttempts: Type.Integer({ minimum: 0, description: 'transient + permanent + gone outcomes' }),
  permanentFailures: Type.Integer({ minimum: 0, description: 'permanent + gone outcomes' }),
  successRate: Rate,
  latencyMs: Type.Object({ p50: Milliseconds, p95: Milliseconds, p99: Milliseconds }, { description: 'enqueue → accepted by the provider' }),
});

export const StatsSchema = Type.Object({
  window: Type.Object({ seconds: Type.Integer(), from: Type.String(), to: Type.String() }),
  notifications: Type.Object({
    accepted: Type.Integer({ minimum: 0 }),
    delivered: Type.Integer({ minimum: 0 }),
    failed: Type.Integer({ minimum: 0 }),
    expired: Type.Integer({ minimum: 0 }),
    skipped: Type.Integer({ minimum: 0 }),
    merged: Type.Integer({ minimum: 0, description: 'merged into a digest at acceptance' }),
    canceled: Type.Integer({ minimum: 0 }),
    successRate: Rate,
    failureRate: Rate,
  }),
  topics: Type.Object({
    accepted: Type.Integer({ minimum: 0, description: 'topic notifications accepted' }),
    recipients: Type.Integer({ minimum: 0, description: "recipients' notifications written by their fan-out (also counted in notifications)" }),
  }),
  channels: Type.Object(Object.fromEntries(CHANNEL_NAMES.map((channel) => [channel, ChannelStatsSchema]))),
  queues: Type.Record(Type.String(), Type.Object({ waiting: Type.Integer(), active: Type.Integer(), delayed: Type.Integer() })),
  deadLetters: Type.Integer({ minimum: 0 }),
  workers: Type.Array(
    Type.Object({
      id: Type.String(),
      channels: Type.Array(ChannelNameSchema),
      lastSeen: Type.String(),
      shards: Type.Array(Type.Integer({ minimum: 0 }), { description: 'the shards it serves (HERALD_SHARDS, `herald worker --shards`)' }),
    }),
  ),
  skips: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
    description: 'skipped attempts by attempt code: why notifications ended skipped, and why channels were passed over',
  }),
});
