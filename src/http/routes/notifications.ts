/** Enqueue and status routes (scope `publish`). */
import type { FastifyInstance } from 'fastify';
import { HeraldError, validationError } from '../../errors.js';
import { BatchSchema } from '../../schemas.js';
import { schemaErrors } from '../../validate.js';
import type { AppDeps } from '../deps.js';
import { BATCH_BODY_LIMIT_BYTES } from '../body-limits.js';

export async function notificationRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { herald } = deps;

  app.post('/v1/notifications', { config: { scope: 'publish' } }, async (request, reply) => {
    const result = await herald.notify(request.body);
    return reply.status(202).send(result);
  });

  app.post('/v1/notifications/batch', { config: { scope: 'publish' }, bodyLimit: BATCH_BODY_LIMIT_BYTES }, async (request, reply) => {
    const details = schemaErrors(BatchSchema, request.body);
    if (details.length > 0) throw validationError(details);
    const { notifications } = request.body as { notifications: unknown[] };
    return reply.status(202).send({ results: await herald.notifyMany(notifications) });
  });

  app.get<{ Params: { id: string } }>('/v1/notifications/:id', { config: { scope: 'publish' } }, async (request) => {
    const status = await herald.status(request.params.id);
    if (!status) throw new HeraldError('HERALD_ERR_NOT_FOUND', `No notification with id ${JSON.stringify(request.params.id)}`);
    return status;
  });
}
