/** Enqueue, status and cancel routes (scope `publish`). */
import type { FastifyInstance } from 'fastify';
import { HeraldError, validationError } from '../../errors.js';
import { BatchSchema } from '../../schemas.js';
import type { NotificationInput } from '../../types.js';
import { schemaErrors, validateCancelGroup } from '../../validate.js';
import type { AppDeps } from '../deps.js';
import { BATCH_BODY_LIMIT_BYTES } from '../body-limits.js';

export async function notificationRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { herald } = deps;

  app.post('/v1/notifications', { config: { scope: 'publish' } }, async (request, reply) => {
    // An HTTP body is whatever the client sent: notify validates it at run time, as it does a
    // JavaScript caller's argument, and answers 400 naming every bad field.
    const result = await herald.notify(request.body as NotificationInput);
    return reply.status(202).send(result);
  });

  app.post('/v1/notifications/batch', { config: { scope: 'publish' }, bodyLimit: BATCH_BODY_LIMIT_BYTES }, async (request, reply) => {
    const details = schemaErrors(BatchSchema, request.body);
    if (details.length > 0) throw validationError(details);
    const { notifications } = request.body as { notifications: NotificationInput[] };
    return reply.status(202).send({ results: await herald.notifyMany(notifications) });
  });

  app.get<{ Params: { id: string } }>('/v1/notifications/:id', { config: { scope: 'publish' } }, async (request) => {
    const status = await herald.status(request.params.id);
    if (!status) throw new HeraldError('HERALD_ERR_NOT_FOUND', `No notification with id ${JSON.stringify(request.params.id)}`);
    return status;
  });

  app.delete<{ Params: { id: string } }>('/v1/notifications/:id', { config: { scope: 'publish' } }, async (request) => herald.cancel(request.params.id));

  app.post<{ Body: { to: string; groupKey: string } }>('/v1/notifications/cancel', { config: { scope: 'publish' } }, async (request) => {
    const { to, groupKey } = validateCancelGroup(request.body);
    return { canceled: await herald.cancelGroup(to, groupKey) };
  });
}
