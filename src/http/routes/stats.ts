/** Delivery statistics of the whole deployment (scope `admin`); see stats/read.ts. */
import type { FastifyInstance } from 'fastify';
import { parseWindow } from '../../stats/read.js';
import type { AppDeps } from '../deps.js';

export async function statsRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.get<{ Querystring: { window?: unknown } }>('/v1/stats', { config: { scope: 'admin' } }, async (request) => {
    // The query arrives as text (or an array when repeated); parseWindow turns it into seconds or a 400.
    return deps.herald.stats(parseWindow(request.query.window));
  });
}
