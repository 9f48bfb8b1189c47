/**
 * The API describes itself: `/docs/json` is an OpenAPI 3.1 document of every route, `/docs` is
 * Swagger UI; neither needs an API key. The request body schemas are the TypeBox schemas Herald
 * validates with (schemas.ts), so the document cannot drift from the validation.
 *
 * The schemas are attached for documentation only. Herald validates bodies itself, to answer
 * with its own error shape naming every bad field, so the documented routes get a validator
 * that accepts everything and a serializer that is plain JSON.stringify: Fastify neither
 * rejects a request first nor drops fields from an answer.
 *
 * The docs live in one table here rather than in each route file, and each route's security is
 * derived from its `scope`, so the document says exactly what the auth hook enforces.
 */
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type, type TSchema } from '@sinclair/typebox';
import {
  CancelGroupResultSchema,
  CancelGroupSchema,
  DeadLetterSchema,
  EnqueueResultSchema,
  ErrorResponse,
  InboxPageSchema,
  InboxTokenRequestSchema,
  InboxTokenSchema,
  NotificationSchema,
  PreferencesSchema,
  PresenceOfflineSchema,
  PresenceSchema,
  PushSubscriptionSchema,
  RecipientResponseSchema,
  RecipientSchema,
  StatsSchema,
  StatusSchema,
  TopicMembersPageSchema,
  TopicRecipientsPageSchema,
} from '../schemas.js';
import { MAX_BATCH, MAX_PAGE_LIMIT } from '../sdk/herald.js';
import { EVENT_TYPES } from '../types.js';
import { BATCH_BODY_LIMIT_BYTES, BODY_LIMIT_BYTES } from './body-limits.js';
import { DEFAULT_WINDOW_SECONDS, MAX_WINDOW_SECONDS, MIN_WINDOW_SECONDS } from '../stats/read.js';

export const DOCS_PREFIX = '/docs';

interface RouteDoc {
  summary: string;
  tags: string[];
  body?: TSchema;
  params?: Record<string, string>;
  querystring?: TSchema;
  /** Success status → schema, or `null` for an empty answer; a string for non-JSON bodies. */
  success: [status: number, answer: TSchema | null | string];
  /** The media type of a text answer; text/plain when absent. */
  textType?: string;
}

const described = <T extends TSchema>(schema: T, description: string): T => ({ ...schema, description });

/** The error shape, once in `components.schemas` rather than inline in every answer. */
const ERROR_SCHEMA_ID = 'Error';
const errorAnswer = (description: string): TSchema => ({ ...Type.Ref(ERROR_SCHEMA_ID), description });

const IdAnswer = Type.Object({ id: Type.String() });
const PresenceAnswer = Type.Object({
  online: Type.Boolean(),
  devices: Type.Array(
    Type.Object({
      device: Type.String(),
      context: Type.Optional(Type.String()),
      expiresAt: Type.String({ format: 'date-time', description: 'when it ends unless renewed' }),
    }),
    { description: 'the devices whose presence lives, soonest to end first' },
  ),
});
const BatchBody = Type.Object(
  { notifications: Type.Array(NotificationSchema, { minItems: 1, maxItems: MAX_BATCH }) },
  {
    additionalProperties: false,
    description: `Each item is validated on its own: an invalid one gets an error in its place. The body may be up to ${BATCH_BODY_LIMIT_BYTES} bytes (every other route: ${BODY_LIMIT_BYTES})`,
  },
);
const BatchAnswer = Type.Object({ results: Type.Array(Type.Union([EnqueueResultSchema, ErrorResponse])) });

const PAGE_QUERY = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_LIMIT, default: 100 })),
  cursor: Type.Optional(Type.String({ description: '`next` of the previous page' })),
});

const EventFilterSchema = Type.Union(
  [Type.Array(Type.Union(EVENT_TYPES.map((type) => Type.Literal(type))), { minItems: 1 }), Type.Array(Type.Literal('*'), { minItems: 1, maxItems: 1 })],
  {
    description: 'the event types the endpoint receives, or ["*"] for every type',
  },
);
const WebhookBody = Type.Object({ url: Type.String({ maxLength: 2048 }), events: EventFilterSchema }, { additionalProperties: false });
const WebhookFields = { id: Type.String(), url: Type.String(), events: EventFilterSchema, createdAt: Type.String({ format: 'date-time' }) };
const WebhookCreated = Type.Object({
  ...WebhookFields,
  secret: Type.String({ description: '`whsec_…`: signs every request to the endpoint; shown only here' }),
});
const WebhookListed = Type.Object({
  ...WebhookFields,
  health: Type.Object(
    {
      lastSuccessAt: Type.Optional(Type.String()),
      lastFailureAt: Type.Optional(Type.String()),
      lastError: Type.Optional(Type.String({ description: 'the attempt code of the latest failed try' })),
      failingTries: Type.Integer({ description: 'failed tries since the last success' }),
    },
    { description: "how the endpoint's deliveries are going" },
  ),
});

const ROUTES: Record<string, RouteDoc> = {
  'POST /v1/notifications': { summary: 'Enqueue one notification', tags: ['notifications'], body: NotificationSchema, success: [202, EnqueueResultSchema] },
  'POST /v1/notifications/batch': {
    summary: `Enqueue up to ${MAX_BATCH} notifications in one round trip`,
    tags: ['notifications'],
    body: BatchBody,
    success: [202, BatchAnswer],
  },
  'GET /v1/notifications/:id': {
    summary: 'Status of a notification, with every attempt',
    tags: ['notifications'],
    params: { id: 'notification id' },
    success: [200, StatusSchema],
  },
  'DELETE /v1/notifications/:id': {
    summary:
      "Cancel a pending notification (a topic notification with its recipients' pending notifications); 409 HERALD_ERR_ALREADY_FINISHED (its status in details) once it has ended",
    tags: ['notifications'],
    params: { id: 'notification id' },
    success: [200, StatusSchema],
  },
  'POST /v1/notifications/cancel': {
    summary: 'Cancel every pending notification of a recipient with a groupKey',
    tags: ['notifications'],
    body: CancelGroupSchema,
    success: [200, CancelGroupResultSchema],
  },
  'PUT /v1/recipients/:userId': {
    summary: "Set a recipient's addresses and preferred channels, and its preferences when given (kept otherwise); the answer masks secrets as GET does",
    tags: ['recipients'],
    params: { userId: 'user id' },
    body: RecipientSchema,
    success: [200, RecipientResponseSchema],
  },
  'GET /v1/recipients/:userId': {
    summary: 'A recipient, its Gotify token, webhook URL path and Web Push endpoint paths masked, its subscriptions without keys',
    tags: ['recipients'],
    params: { userId: 'user id' },
    success: [200, RecipientResponseSchema],
  },
  'DELETE /v1/recipients/:userId': {
    summary: 'Forget a recipient: addresses, tokens, subscriptions, presence and inbox',
    tags: ['recipients'],
    params: { userId: 'user id' },
    success: [204, null],
  },
  'POST /v1/recipients/:userId/webpush': {
    summary: "Add a browser's PushSubscription (the same endpoint again gives the same id)",
    tags: ['recipients'],
    params: { userId: 'user id' },
    body: PushSubscriptionSchema,
    success: [201, IdAnswer],
  },
  'DELETE /v1/recipients/:userId/webpush/:subscriptionId': {
    summary: 'Remove a Web Push subscription',
    tags: ['recipients'],
    params: { userId: 'user id', subscriptionId: 'subscription id' },
    success: [204, null],
  },
  'PUT /v1/recipients/:userId/preferences': {
    summary: "Replace the recipient's preferences (muted categories and channels, quiet hours); enforced at delivery time, queued notifications included",
    tags: ['recipients'],
    params: { userId: 'user id' },
    body: PreferencesSchema,
    success: [200, PreferencesSchema],
  },
  'PUT /v1/recipients/:userId/presence': {
    summary: "Mark one of the recipient's devices online for ttlSeconds, with its context (skipIfOnline, skipIfPresentIn)",
    tags: ['recipients'],
    params: { userId: 'user id' },
    body: PresenceSchema,
    success: [204, null],
  },
  'GET /v1/recipients/:userId/presence': {
    summary: 'Whether the recipient is online, and each online device with its context and end',
    tags: ['recipients'],
    params: { userId: 'user id' },
    success: [200, PresenceAnswer],
  },
  'DELETE /v1/recipients/:userId/presence': {
    summary: "End one device's presence (?device=D), or every device's",
    tags: ['recipients'],
    params: { userId: 'user id' },
    querystring: PresenceOfflineSchema,
    success: [204, null],
  },
  'GET /v1/notifications/:id/recipients': {
    summary: "A topic notification's recipients, by user id, with their own notifications' ids and statuses",
    tags: ['topics'],
    params: { id: 'notification id' },
    querystring: PAGE_QUERY,
    success: [200, TopicRecipientsPageSchema],
  },
  'PUT /v1/topics/:topic/members/:userId': {
    summary: 'Add a member to a topic (the topic exists while it has members)',
    tags: ['topics'],
    params: { topic: 'topic name', userId: 'user id' },
    success: [204, null],
  },
  'DELETE /v1/topics/:topic/members/:userId': {
    summary: 'Remove a member from a topic; notifications already accepted for the topic still reach it',
    tags: ['topics'],
    params: { topic: 'topic name', userId: 'user id' },
    success: [204, null],
  },
  'GET /v1/topics/:topic/members': {
    summary: "A topic's members, by user id",
    tags: ['topics'],
    params: { topic: 'topic name' },
    querystring: PAGE_QUERY,
    success: [200, TopicMembersPageSchema],
  },
  'GET /v1/webpush/public-key': {
    summary: 'The VAPID public key, for PushManager.subscribe()',
    tags: ['recipients'],
    success: [200, Type.Object({ publicKey: Type.String() })],
  },
  'GET /v1/stats': {
    summary: 'Delivery statistics of the whole deployment over a window',
    tags: ['operations'],
    querystring: Type.Object({
      window: Type.Optional(
        Type.Integer({
          minimum: MIN_WINDOW_SECONDS,
          maximum: MAX_WINDOW_SECONDS,
          default: DEFAULT_WINDOW_SECONDS,
          description: 'seconds; minute buckets up to 10800, hour buckets beyond',
        }),
      ),
    }),
    success: [200, StatsSchema],
  },
  'GET /v1/dead-letters': {
    summary: 'Dead letters, newest first',
    tags: ['dead letters'],
    querystring: Type.Object({
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
      cursor: Type.Optional(Type.String({ description: '`next` of the previous page' })),
    }),
    success: [200, Type.Object({ items: Type.Array(DeadLetterSchema), next: Type.Union([Type.String(), Type.Null()]) })],
  },
  'GET /v1/dead-letters/:id': { summary: 'One dead letter', tags: ['dead letters'], params: { id: 'notification id' }, success: [200, DeadLetterSchema] },
  'POST /v1/dead-letters/:id/replay': {
    summary: 'Send a dead letter again under the same id; the channels start afresh',
    tags: ['dead letters'],
    params: { id: 'notification id' },
    success: [202, Type.Object({ id: Type.String(), status: Type.Literal('queued') })],
  },
  'DELETE /v1/dead-letters/:id': {
    summary: 'Remove a dead letter (its status record stays readable)',
    tags: ['dead letters'],
    params: { id: 'notification id' },
    success: [204, null],
  },
  'POST /v1/recipients/:userId/inbox-token': {
    summary: "A short-lived token that lets the user's browser list, stream and mark read its own inbox, and nothing else",
    tags: ['inbox'],
    params: { userId: 'user id' },
    body: InboxTokenRequestSchema,
    success: [201, InboxTokenSchema],
  },
  'GET /v1/inbox': {
    summary: "The token's user's inbox, newest first, with the count of unread items",
    tags: ['inbox'],
    querystring: Type.Object({
      cursor: Type.Optional(Type.String({ description: '`next` of the previous page' })),
      unread: Type.Optional(Type.Union([Type.Literal('1'), Type.Literal('0')], { description: '1: unread items only' })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
    }),
    success: [200, InboxPageSchema],
  },
  'GET /v1/inbox/stream': {
    summary: 'Server-Sent Events: `inbox` (a new InboxItem), `read` ({ids, readAt}); the token may be given as ?token= (EventSource sends no headers)',
    tags: ['inbox'],
    querystring: Type.Object({ token: Type.Optional(Type.String({ description: 'the inbox token, for EventSource' })) }),
    success: [200, 'text/event-stream'],
  },
  'POST /v1/inbox/:id/read': {
    summary: 'Mark one item read; a notification whose escalation waited on it ends delivered, and no later channel starts',
    tags: ['inbox'],
    params: { id: 'item id (the notification id)' },
    success: [204, null],
  },
  'POST /v1/inbox/read-all': { summary: 'Mark every unread item read', tags: ['inbox'], success: [204, null] },
  'POST /v1/webhooks': {
    summary: 'Register an event webhook endpoint; 400 HERALD_ERR_WEBHOOK_URL_REFUSED for a URL that is not https: on a public address',
    tags: ['webhooks'],
    body: WebhookBody,
    success: [201, WebhookCreated],
  },
  'GET /v1/webhooks': {
    summary: 'The event webhook endpoints, without their secrets',
    tags: ['webhooks'],
    success: [200, Type.Object({ items: Type.Array(WebhookListed) })],
  },
  'DELETE /v1/webhooks/:id': {
    summary: 'Delete an event webhook endpoint; its pending deliveries are dropped',
    tags: ['webhooks'],
    params: { id: 'webhook id' },
    success: [204, null],
  },
  'GET /healthz': { summary: 'Liveness', tags: ['operations'], success: [200, Type.Object({ status: Type.Literal('ok') })] },
  'GET /readyz': { summary: 'Readiness: Redis answers (503 otherwise)', tags: ['operations'], success: [200, Type.Object({ status: Type.Literal('ready') })] },
  'GET /metrics': { summary: 'Prometheus metrics (text exposition format 0.0.4)', tags: ['operations'], success: [200, 'Prometheus text format'] },
  'GET /v1/events': {
    summary: 'Every change of a notification, live, as Server-Sent Events',
    tags: ['operations'],
    querystring: Type.Object({
      types: Type.Optional(Type.String({ description: `Comma-separated event types among ${EVENT_TYPES.join(', ')}; default every type` })),
      to: Type.Optional(Type.String({ description: "Only this recipient's events" })),
      lastEventId: Type.Optional(Type.String({ description: 'Resume strictly after this event id, for clients that cannot send the Last-Event-ID header' })),
    }),
    success: [
      200,
      'Messages `id: <event id>`, `event: <type>`, `data: <Event JSON>`; `event: gap` first when events after Last-Event-ID were trimmed; `event: dropped` last for a client that read too slowly; a `: ping` comment every 15 s',
    ],
    textType: 'text/event-stream',
  },
};

/** The documented routes, as `METHOD url`; tests check that every route of the app is among them. */
export const DOCUMENTED_ROUTES = Object.keys(ROUTES);

function errorAnswers(doc: RouteDoc, scope: string | undefined): Record<string, TSchema> {
  const answers: Record<string, TSchema> = {};
  if (doc.body || doc.querystring) answers['400'] = errorAnswer('HERALD_ERR_VALIDATION or HERALD_ERR_INVALID_JSON; details name every bad field');
  if (scope === 'inbox') answers['401'] = errorAnswer('Missing, unknown or expired inbox token (API keys do not read inboxes)');
  else if (scope) {
    answers['401'] = errorAnswer('Missing or unknown API key');
    answers['403'] = errorAnswer(`The key lacks the ${scope} scope`);
  }
  if (doc.params) answers['404'] = errorAnswer('Not found');
  answers['503'] = errorAnswer('Redis is unreachable; retry');
  return answers;
}

const SCOPE_DESCRIPTIONS = {
  admin: 'Needs an API key with the `admin` scope.',
  publish: 'Needs an API key with the `publish` or `admin` scope.',
  inbox: 'Needs an inbox token (`POST /v1/recipients/:userId/inbox-token`); API keys are refused. Answers allow any origin (CORS, no credentials).',
} as const;

function schemaFor(doc: RouteDoc, scope: string | undefined): FastifySchema {
  const [status, answer] = doc.success;
  const success =
    answer === null
      ? { type: 'null', description: 'No content' }
      : typeof answer === 'string'
        ? { description: answer, content: { [doc.textType ?? 'text/plain']: { schema: { type: 'string' } } } }
        : described(answer, 'Success');
  const schema: FastifySchema & Record<string, unknown> = {
    summary: doc.summary,
    tags: doc.tags,
    // An empty list overrides any global requirement: the route is public.
    security: scope ? [{ bearer: [] }] : [],
    response: { [status]: success, ...errorAnswers(doc, scope) },
  };
  if (scope) schema.description = SCOPE_DESCRIPTIONS[scope as keyof typeof SCOPE_DESCRIPTIONS];
  if (doc.body) schema.body = doc.body;
  if (doc.querystring) schema.querystring = doc.querystring;
  if (doc.params)
    schema.params = Type.Object(Object.fromEntries(Object.entries(doc.params).map(([name, description]) => [name, Type.String({ description })])));
  return schema;
}

/** Attaches the docs to routes as they are added; registered before any route. */
function attachDocs(route: RouteOptions): void {
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  const doc = methods.map((method) => ROUTES[`${method} ${route.url}`]).find((d) => d !== undefined);
  if (!doc) return;
  const config = route.config as { scope?: string } | undefined;
  route.schema = { ...schemaFor(doc, config?.scope), ...route.schema };
  route.validatorCompiler = () => () => true;
  route.serializerCompiler = () => (data) => JSON.stringify(data);
}

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  app.addHook('onRoute', attachDocs);
  app.addSchema({ ...ErrorResponse, $id: ERROR_SCHEMA_ID });
  await app.register(swagger, {
    // Shared schemas keep their $id as their name in components.schemas.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Herald',
        version: '0.1.0',
        description:
          'Durable notification dispatcher: enqueue once, deliver through Gotify, Web Push, email, ntfy or a webhook with retries, fallback and a dead-letter queue.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API key from HERALD_API_KEYS, scope `publish` or `admin`; on the inbox routes, an inbox token instead',
          },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
}
