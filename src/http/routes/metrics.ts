/**
 * `GET /metrics` (scope `admin`): Prometheus text format. Each app has its own registry; the
 * delivery figures are read from Redis on every scrape (see stats/metrics.ts).
 */
import type { FastifyInstance } from 'fastify';
import { HeraldMetrics } from '../../stats/metrics.js';
import type { AppDeps } from '../deps.js';

export async function metricsRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const metrics = new HeraldMetrics();

  app.get('/metrics', { config: { scope: 'admin' } }, async (_request, reply) => {
    metrics.update(await deps.herald.statsTotals());
    const text = await metrics.text();
    return reply.type(metrics.contentType).send(text);
  });
}
