/** Liveness, readiness (Redis answers) and the public VAPID key: the routes that need no API key (besides the static files). */
import type { FastifyInstance } from 'fastify';
import { HeraldError } from '../../errors.js';
import type { AppDeps } from '../deps.js';

const READY_TIMEOUT_MS = 500;

export async function healthRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    try {
      await Promise.race([
        deps.herald.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new HeraldError('HERALD_ERR_REDIS_UNAVAILABLE')), READY_TIMEOUT_MS).unref()),
      ]);
      return { status: 'ready' };
    } catch {
      const error = new HeraldError('HERALD_ERR_REDIS_UNAVAILABLE');
      return reply.status(503).send(error.toJSON());
    }
  });

  // Public, and read by pages of other origins (an app's page subscribing a browser): any origin may
  // read it. A plain GET without credentials, so no preflight is involved.
  app.get('/v1/webpush/public-key', async (_request, reply) => {
    reply.header('access-control-allow-origin', '*');
    if (!deps.config.vapid) throw new HeraldError('HERALD_ERR_CHANNEL_DISABLED', 'Web Push is not configured (VAPID_PUBLIC_KEY is unset)');
    return { publicKey: deps.config.vapid.publicKey };
  });
}
