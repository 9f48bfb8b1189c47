/**
 * The inbox, as a user's browser reads it with an inbox token (see inbox-auth.ts), and the route
 * that mints such a token (an API key with the `publish` scope: the app's backend calls it for
 * its signed-in user). The inbox routes reach only the token's user's inbox: they take no user id.
 */
import type { FastifyInstance } from 'fastify';
import { validationError } from '../../errors.js';
import type { AppDeps } from '../deps.js';
import { INBOX_PREFLIGHT_HEADERS, inboxAuth } from '../inbox-auth.js';
import { streamInbox } from '../inbox-stream.js';

type ListQuery = { Querystring: { cursor?: string; unread?: string; limit?: string } };

export async function inboxTokenRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { herald } = deps;
  app.post<{ Params: { userId: string } }>('/v1/recipients/:userId/inbox-token', { config: { scope: 'publish' } }, async (request, reply) => {
    const grant = await herald.inbox.token(request.params.userId, (request.body ?? {}) as { ttlSeconds?: number });
    return reply.status(201).send(grant);
  });
}

export async function inboxRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { inbox } = deps.herald;
  const config = { scope: 'inbox' as const };
  app.addHook('onRequest', inboxAuth(inbox));

  // CORS preflight of the app's page (its fetch sends Authorization); never documented as a route.
  app.options('/v1/inbox', { schema: { hide: true } }, async (_request, reply) => reply.status(204).headers(INBOX_PREFLIGHT_HEADERS).send());
  app.options('/v1/inbox/*', { schema: { hide: true } }, async (_request, reply) => reply.status(204).headers(INBOX_PREFLIGHT_HEADERS).send());

  app.get<ListQuery>('/v1/inbox', { config }, async (request) => {
    const { cursor, unread, limit } = request.query;
    if (unread !== undefined && unread !== '0' && unread !== '1') throw validationError([{ field: 'unread', message: 'Expected 1 (unread items only) or 0' }]);
    if (limit !== undefined && !/^\d{1,3}$/.test(limit)) throw validationError([{ field: 'limit', message: 'Expected a whole number from 1 to 100' }]);
    return inbox.list(request.inboxGrant!.userId, {
      ...(cursor !== undefined ? { cursor } : {}),
      unread: unread === '1',
      ...(limit !== undefined ? { limit: Number(limit) } : {}),
    });
  });

  app.get('/v1/inbox/stream', { config: { ...config, tokenInQuery: true } }, async (request, reply) => streamInbox(inbox, request, reply));

  app.post<{ Params: { id: string } }>('/v1/inbox/:id/read', { config }, async (request, reply) => {
    await inbox.read(request.inboxGrant!.userId, request.params.id);
    return reply.status(204).send();
  });

  app.post('/v1/inbox/read-all', { config }, async (request, reply) => {
    await inbox.readAll(request.inboxGrant!.userId);
    return reply.status(204).send();
  });
}
