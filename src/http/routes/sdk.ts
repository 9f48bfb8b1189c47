/**
 * The Web Push client kit, public like the VAPID key it goes with: GET /sdk/herald-push.js (an ES
 * module for the page, also the package export `herald/push`) and GET /sdk/herald-sw.js (the
 * service worker). Both may be loaded from other origins (an app's page imports the module from
 * Herald); `Service-Worker-Allowed: /` lets a page on Herald's own origin give the worker any scope.
 */
import type { FastifyInstance } from 'fastify';
import { serveStaticFiles } from '../static.js';

/** Where the kit's files are, beside the compiled modules (dist/src/client) or the sources (src/client). */
export const CLIENT_DIRECTORY = new URL('../../client/', import.meta.url);

export const CLIENT_FILES = ['herald-push.js', 'herald-sw.js'] as const;

export async function sdkRoutes(app: FastifyInstance): Promise<void> {
  await serveStaticFiles(app, {
    prefix: '/sdk/',
    directory: CLIENT_DIRECTORY,
    files: CLIENT_FILES,
    headers: { 'access-control-allow-origin': '*', 'cross-origin-resource-policy': 'cross-origin' },
    fileHeaders: { 'herald-sw.js': { 'service-worker-allowed': '/' } },
  });
}
