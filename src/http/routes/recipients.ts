/** Recipient registry, Web Push subscriptions and presence (scope `publish`). */
import type { FastifyInstance } from 'fastify';
import { HeraldError } from '../../errors.js';
import type { AppDeps } from '../deps.js';

type UserParams = { Params: { userId: string } };
type SubscriptionParams = { Params: { userId: string; subscriptionId: string } };

export async function recipientRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { herald } = deps;
  const config = { scope: 'publish' as const };

  app.put<UserParams>('/v1/recipients/:userId', { config }, async (request) => {
    return herald.recipients.set(request.params.userId, request.body);
  });

  app.get<UserParams>('/v1/recipients/:userId', { config }, async (request) => {
    const recipient = await herald.recipients.get(request.params.userId);
    if (!recipient) throw new HeraldError('HERALD_ERR_NOT_FOUND', 'No such recipient');
    return recipient;
  });

  app.delete<UserParams>('/v1/recipients/:userId', { config }, async (request, reply) => {
    await herald.recipients.delete(request.params.userId);
    return reply.status(204).send();
  });

  app.post<UserParams>('/v1/recipients/:userId/webpush', { config }, async (request, reply) => {
    const id = await herald.recipients.addWebPush(request.params.userId, request.body);
    return reply.status(201).send({ id });
  });

  app.delete<SubscriptionParams>('/v1/recipients/:userId/webpush/:subscriptionId', { config }, async (request, reply) => {
    const removed = await herald.recipients.removeWebPush(request.params.userId, request.params.subscriptionId);
    if (!removed) throw new HeraldError('HERALD_ERR_NOT_FOUND', 'No such subscription');
    return reply.status(204).send();
  });

  app.put<UserParams>('/v1/recipients/:userId/preferences', { config }, async (request) => {
    return herald.recipients.setPreferences(request.params.userId, request.body);
  });

  app.put<UserParams>('/v1/recipients/:userId/presence', { config }, async (request, reply) => {
    await herald.presence.online(request.params.userId, request.body as { ttlSeconds: number });
    return reply.status(204).send();
  });

  // Read by the console's recipient page: which devices are online, in which context, until when.
  app.get<UserParams>('/v1/recipients/:userId/presence', { config }, async (request) => {
    const devices = await herald.presence.devices(request.params.userId);
    return { online: devices.length > 0, devices };
  });

  app.delete<UserParams & { Querystring: { device?: string } }>('/v1/recipients/:userId/presence', { config }, async (request, reply) => {
    await herald.presence.offline(request.params.userId, request.query);
    return reply.status(204).send();
  });
}
