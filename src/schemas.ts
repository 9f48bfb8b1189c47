/**
 * JSON Schemas (TypeBox) of everything Herald accepts. The same schemas validate SDK calls and
 * HTTP bodies, and describe the API in OpenAPI, so the three can never disagree.
 */
import { Type } from '@sinclair/typebox';
import { CHANNEL_NAMES } from './types.js';

export const ID_PATTERN = '^[A-Za-z0-9._:-]+$';

export const NotificationId = Type.String({ minLength: 1, maxLength: 128, pattern: ID_PATTERN });
export const UserId = Type.String({ minLength: 1, maxLength: 128 });
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
    groupKey: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);

/** `POST /v1/notifications/cancel`: the group whose pending notifications to cancel. */
export const CancelGroupSchema = Type.Object({ to: UserId, groupKey: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });

export const CancelGroupResultSchema = Type.Object({ canceled: Type.Integer({ minimum: 0 }) });

export const BatchSchema = Type.Object({ notifications: Type.Array(Type.Unknown(), { minItems: 1, maxItems: 1000 }) }, { additionalProperties: false });

export const RecipientSchema = Type.Object(
  {
    userId: Type.Optional(UserId),
    email: Type.Optional(EmailAddress),
    gotify: Type.Optional(GotifyTarget),
    channels: Type.Optional(ChannelList),
  },
  { additionalProperties: false },
);

export const PresenceSchema = Type.Object({ ttlSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }) }, { additionalProperties: false });

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
});

export const StatusSchema = Type.Object({
  id: Type.String(),
  status: Type.String(),
  to: Type.Optional(Type.String()),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  channel: Type.Optional(Type.String()),
  attempts: Type.Array(AttemptSchema),
  attemptsOmitted: Type.Optional(Type.Integer()),
});

/*
 * Answers, for the OpenAPI document only: Herald writes its answers itself, so these describe
 * them and never filter them.
 */

export const RecipientResponseSchema = Type.Object({
  userId: UserId,
  email: Type.Optional(Type.String()),
  gotify: Type.Optional(Type.Object({ token: Type.String({ description: 'masked: only the last 4 characters show, as in ****wxyz' }) })),
  channels: Type.Optional(ChannelList),
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
    canceled: Type.Integer({ minimum: 0 }),
    successRate: Rate,
    failureRate: Rate,
  }),
  channels: Type.Object(Object.fromEntries(CHANNEL_NAMES.map((channel) => [channel, ChannelStatsSchema]))),
  queues: Type.Record(Type.String(), Type.Object({ waiting: Type.Integer(), active: Type.Integer(), delayed: Type.Integer() })),
  deadLetters: Type.Integer({ minimum: 0 }),
  workers: Type.Array(Type.Object({ id: Type.String(), channels: Type.Array(ChannelNameSchema), lastSeen: Type.String() })),
});
