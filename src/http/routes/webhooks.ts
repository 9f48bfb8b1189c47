/** Event webhook endpoints (scope `admin`). The secret is in the creation answer only. */
import type { FastifyInstance } from 'fastify';
import { HeraldError } from '../../errors.js';
import type { AppDeps } from '../deps.js';

export async function webhookRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { herald } = deps;
  const config = { scope: 'admin' as const };

  app.post('/v1/webhooks', { config }, async (request, reply) => {
    const endpoint = await herald.webhooks.create(request.body as { url: string; events: string[] });
    // The one answer that carries the secret: no cache may keep it.
    reply.header('cache-control', 'no-store');
    return reply.status(201).send(endpoint);
  });

  app.get('/v1/webhooks', { config }, async () => ({ items: await herald.webhooks.list() }));

  app.delete<{ Params: { id: string } }>('/v1/webhooks/:id', { config }, async (request, reply) => {
    if (!(await herald.webhooks.delete(request.params.id)))
      throw new HeraldError('HERALD_ERR_NOT_FOUND', `No webhook with id ${JSON.stringify(request.params.id)}`);
    return reply.status(204).send();
  });
}
