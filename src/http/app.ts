/**
 * Builds the Fastify application. It never listens by itself: `herald api` listens, tests use
 * `inject()`. Every answer that is not a success is `{"error": {code, message, details}}` with a
 * code from errors.ts.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { HeraldError, isRedisUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';
import { lazyRequestLogger } from './request-logger.js';
import type { Herald } from '../sdk/herald.js';
import { ApiKeyChecker } from './auth.js';
import { notificationRoutes } from './routes/notifications.js';
import { recipientRoutes } from './routes/recipients.js';
import { healthRoutes } from './routes/health.js';
import { deadLetterRoutes } from './routes/dead-letters.js';
import { statsRoutes } from './routes/stats.js';
import { metricsRoutes } from './routes/metrics.js';
import { registerOpenApi } from './openapi.js';

export const BODY_LIMIT_BYTES = 64 * 1024;

export interface AppDeps {
  herald: Herald;
  config: Config;
  logger: Logger;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The API key scope a route needs; absent for public routes. */
    scope?: 'publish' | 'admin';
  }
}

/** Maps Fastify's own request errors (body parsing, limits) to Herald codes. */
function fromFastifyError(error: FastifyError): HeraldError | null {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HeraldError('HERALD_ERR_PAYLOAD_TOO_LARGE');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HeraldError('HERALD_ERR_UNSUPPORTED_MEDIA_TYPE');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HeraldError('HERALD_ERR_INVALID_JSON', 'The body is empty; send a JSON object');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HeraldError('HERALD_ERR_INVALID_JSON');
    default:
      break;
  }
  if (error instanceof SyntaxError || error.statusCode === 400) return new HeraldError('HERALD_ERR_INVALID_JSON');
  if (error.statusCode === 415) return new HeraldError('HERALD_ERR_UNSUPPORTED_MEDIA_TYPE');
  if (error.statusCode === 413) return new HeraldError('HERALD_ERR_PAYLOAD_TOO_LARGE');
  return null;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
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
    if (scope) keys.check(request, scope);
  });

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    let herald = error instanceof HeraldError ? error : fromFastifyError(error);
    if (!herald && isRedisUnavailable(error)) herald = new HeraldError('HERALD_ERR_REDIS_UNAVAILABLE');
    if (!herald) {
      request.log.error({ err: error, route: request.routeOptions.url }, 'request failed');
      herald = new HeraldError('HERALD_ERR_INTERNAL');
    }
    if (herald.code === 'HERALD_ERR_REDIS_UNAVAILABLE') reply.header('retry-after', '1');
    return reply.status(herald.statusCode).send(herald.toJSON());
  });

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const error = new HeraldError('HERALD_ERR_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`);
    return reply.status(404).send(error.toJSON());
  });

  // Before the routes: it documents each one as it is added.
  await registerOpenApi(app);
  await app.register(healthRoutes, deps);
  await app.register(notificationRoutes, deps);
  await app.register(recipientRoutes, deps);
  await app.register(deadLetterRoutes, deps);
  await app.register(statsRoutes, deps);
  await app.register(metricsRoutes, deps);
  return app;
}
