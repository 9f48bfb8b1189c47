/** Dead-letter routes (scope `admin`). */
import type { FastifyInstance } from 'fastify';
import { HeraldError, validationError } from '../../errors.js';
import type { AppDeps } from '../deps.js';

type IdParams = { Params: { id: string } };

export async function deadLetterRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { herald } = deps;
  const config = { scope: 'admin' as const };

  app.get<{ Querystring: { limit?: string; cursor?: string } }>('/v1/dead-letters', { config }, async (request) => {
    const { limit, cursor } = request.query;
    if (limit !== undefined && !/^\d+$/.test(limit)) throw validationError([{ field: 'limit', message: 'Expected a whole number from 1 to 500' }]);
    return herald.deadLetters.list({ ...(limit !== undefined ? { limit: Number(limit) } : {}), ...(cursor ? { cursor } : {}) });
  });

  app.get<IdParams>('/v1/dead-letters/:id', { config }, async (request) => {
    const letter = await herald.deadLetters.get(request.params.id);
    if (!letter) throw new HeraldError('HERALD_ERR_NOT_FOUND', `No dead letter with id ${JSON.stringify(request.params.id)}`);
    return letter;
  });

  app.post<IdParams>('/v1/dead-letters/:id/replay', { config }, async (request, reply) => {
    return reply.status(202).send(await herald.deadLetters.replay(request.params.id));
  });

  app.delete<IdParams>('/v1/dead-letters/:id', { config }, async (request, reply) => {
    await herald.deadLetters.delete(request.params.id);
    return reply.status(204).send();
  });
}
