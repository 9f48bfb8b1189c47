/**
 * The answer to a request no route takes. Fastify's router answers 404 whatever the reason; a
 * path that has routes for other methods gets 405 with `Allow` instead (RFC 9110 §15.5.6), so a
 * client that used the wrong method is told so rather than that the resource does not exist.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { HeraldError } from '../errors.js';
import { drainUnreadBody } from './unread-body.js';

/**
 * The methods `url` has routes for, when its own `method` has none; empty otherwise (no route
 * for the path, or a handler's own 404, such as a missing static file of the docs).
 */
export function allowedMethods(app: FastifyInstance, method: string, url: string): string[] {
  const routed = (app.supportedMethods as HTTPMethods[]).filter((candidate) => app.findRoute({ method: candidate, url }) !== null);
  return routed.includes(method as HTTPMethods) ? [] : routed;
}

export function notFoundHandler(app: FastifyInstance) {
  return (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const path = request.url.split('?')[0];
    const allow = allowedMethods(app, request.method, request.url);
    let error: HeraldError;
    if (allow.length > 0) {
      reply.header('allow', allow.join(', '));
      error = new HeraldError('HERALD_ERR_METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; use ${allow.join(', ')}`);
    } else {
      error = new HeraldError('HERALD_ERR_NOT_FOUND', `No route ${request.method} ${path}`);
    }
    drainUnreadBody(request, reply);
    return reply.status(error.statusCode).send(error.toJSON());
  };
}
