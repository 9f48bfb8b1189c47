/** Topic members and the recipients of topic notifications (scope `publish`). */
import type { FastifyInstance } from 'fastify';
import { HeraldError } from '../../errors.js';
import type { AppDeps } from '../deps.js';
import { pageOptions, type PageQuery } from '../page-query.js';

type MemberParams = { Params: { topic: string; userId: string } };
type TopicParams = { Params: { topic: string }; Querystring: PageQuery };
type RecipientsParams = { Params: { id: string }; Querystring: PageQuery };

export async function topicRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { herald } = deps;
  const config = { scope: 'publish' as const };

  app.put<MemberParams>('/v1/topics/:topic/members/:userId', { config }, async (request, reply) => {
    await herald.topics.add(request.params.topic, request.params.userId);
    return reply.status(204).send();
  });

  // Removing a user who is not a member is not an error: the member set is as asked either way.
  app.delete<MemberParams>('/v1/topics/:topic/members/:userId', { config }, async (request, reply) => {
    await herald.topics.remove(request.params.topic, request.params.userId);
    return reply.status(204).send();
  });

  app.get<TopicParams>('/v1/topics/:topic/members', { config }, async (request) => {
    return herald.topics.members(request.params.topic, pageOptions(request.query));
  });

  app.get<RecipientsParams>('/v1/notifications/:id/recipients', { config }, async (request) => {
    const page = await herald.topics.recipients(request.params.id, pageOptions(request.query));
    if (!page) throw new HeraldError('HERALD_ERR_NOT_FOUND', `No topic notification with id ${JSON.stringify(request.params.id)}`);
    return page;
  });
}
