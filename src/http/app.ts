/**
 * Builds the Fastify application. It never listens by itself: `herald api` listens, tests use
 * `inject()`. Every answer that is not a success is `{"error": {code, message, details}}` with a
 * code from errors.ts.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { HeraldError } from '../errors.js';
import { isRedisUnavailable } from '../redis/failures.js';
import { lazyRequestLogger } from './request-logger.js';
import { ApiKeyChecker } from './auth.js';
import { answerClientError, fromFastifyError } from './fastify-errors.js';
import { drainUnreadBody } from './unread-body.js';
import { notFoundHandler } from './not-found.js';
import { BODY_LIMIT_BYTES } from './body-limits.js';
import { notificationRoutes } from './routes/notifications.js';
import { recipientRoutes } from './routes/recipients.js';
import { topicRoutes } from './routes/topics.js';
import { healthRoutes } from './routes/health.js';
import { deadLetterRoutes } from './routes/dead-letters.js';
import { statsRoutes } from './routes/stats.js';
import { metricsRoutes } from './routes/metrics.js';
import { sdkRoutes } from './routes/sdk.js';
import { webhookRoutes } from './routes/webhooks.js';
import { consoleRoutes } from './routes/console.js';
import { inboxRoutes, inboxTokenRoutes } from './routes/inbox.js';
import { eventRoutes } from './routes/events.js';
import { registerOpenApi } from './openapi.js';

import type { AppDeps } from './deps.js';

export type { AppDeps };

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The API key scope a route needs, or `inbox` for an inbox token (inbox-auth.ts); absent for public routes. */
    scope?: 'publish' | 'admin' | 'inbox';
  }
}

/**
 * Notification ids and user ids are up to 128 characters (schemas.ts); in a path, percent-encoded,
 * one character takes up to 9 (three UTF-8 bytes as %XX). Fastify's default of 100 would answer
 * 414 for valid ids.
 */
const MAX_PATH_PARAMETER_LENGTH = 128 * 9;

/**
 * Answers every error with its Herald code: Herald's own, Fastify's (body parsing and limits,
 * routing, the docs' static files) mapped by status, Redis being away. Only what is left is a bug:
 * logged with its stack, answered 500.
 */
function answerError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  let herald = error instanceof HeraldError ? error : fromFastifyError(error, request.routeOptions.bodyLimit ?? BODY_LIMIT_BYTES);
  if (!herald && isRedisUnavailable(error)) herald = new HeraldError('HERALD_ERR_REDIS_UNAVAILABLE');
  if (!herald) {
    request.log.error({ err: error, route: request.routeOptions.url }, 'request failed');
    herald = new HeraldError('HERALD_ERR_INTERNAL');
  }
  if (herald.code === 'HERALD_ERR_REDIS_UNAVAILABLE') reply.header('retry-after', '1');
  drainUnreadBody(request, reply);
  return reply.status(herald.statusCode).send(herald.toJSON());
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: MAX_PATH_PARAMETER_LENGTH },
    // Node's parser errors (a broken request line, headers too large) in Herald's error shape.
    clientErrorHandler: answerClientError,
    // Errors raised before routing (a path that is not valid percent-encoded UTF-8).
    frameworkErrors: answerError,
    // Deliveries are logged by the workers; per-request access logs would drown them.
    logController: new LogController({ disableRequestLogging: true }),
    // So a request that logs nothing (nearly all) does not pay for a redacting child logger.
    childLoggerFactory: lazyRequestLogger,
    // Prototype-poisoning keys in JSON bodies are refused rather than silently dropped.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    forceCloseConnections: true,
  });

  // JSON only: a text/plain body would otherwise reach the handlers as a string.
  app.removeContentTypeParser('text/plain');
  // Bodies must be valid UTF-8: the default parser would silently replace bad bytes with U+FFFD
  // and deliver a message the producer never wrote.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      return done(new HeraldError('HERALD_ERR_INVALID_JSON', 'The body is not valid UTF-8'), undefined);
    }
    parseJson(request, text, done);
  });

  const keys = new ApiKeyChecker(deps.config.apiKeys);
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const scope = request.routeOptions.config?.scope;
    // Inbox routes check their token in their own hook (inbox-auth.ts), after setting CORS headers.
    if (scope === 'publish' || scope === 'admin') keys.check(request, scope);
  });

  app.setErrorHandler(answerError);

  app.setNotFoundHandler(notFoundHandler(app));

  // Before the routes: it documents each one as it is added.
  await registerOpenApi(app);
  await app.register(healthRoutes, deps);
  await app.register(notificationRoutes, deps);
  await app.register(recipientRoutes, deps);
  await app.register(topicRoutes, deps);
  await app.register(deadLetterRoutes, deps);
  await app.register(statsRoutes, deps);
  await app.register(metricsRoutes, deps);
  // Not encapsulated: it decorates the app with its event reader (app.eventHub).
  await eventRoutes(app, deps);
  await app.register(webhookRoutes, deps);
  await app.register(sdkRoutes);
  await app.register(consoleRoutes);
  await app.register(inboxTokenRoutes, deps);
  await app.register(inboxRoutes, deps);
  return app;
}
