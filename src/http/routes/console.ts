/**
 * The operator console: GET / redirects to /console/, where static files shipped in the package
 * (src/console/, beside the compiled modules in dist/src/console/) make a small single-page app.
 * The files themselves are public and need no key: the page asks for an admin key, keeps it in
 * sessionStorage and sends it as a bearer header on every API call it makes.
 *
 * Every console answer carries a strict Content-Security-Policy: scripts and styles only from
 * Herald's own origin (no inline script, no inline style), API calls only to it, never framed. A
 * key typed into the page can then only travel to Herald, and an injected string in a
 * notification (a title, an error text) cannot run as script.
 */
import type { FastifyInstance } from 'fastify';
import { serveStaticFiles } from '../static.js';

/** Where the console's files are, beside the compiled modules (dist/src/console) or the sources. */
export const CONSOLE_DIRECTORY = new URL('../../console/', import.meta.url);

export const CONSOLE_PATH = '/console/';

export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "worker-src 'self'",
  "manifest-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const CONSOLE_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  // The hash routes (#/notification/<id>) carry ids, never the key; still, nothing leaves in a Referer.
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export async function consoleRoutes(app: FastifyInstance): Promise<void> {
  const redirect = { schema: { hide: true } };
  app.get('/', redirect, async (_request, reply) => reply.redirect(CONSOLE_PATH, 302));
  app.get('/console', redirect, async (_request, reply) => reply.redirect(CONSOLE_PATH, 301));
  await serveStaticFiles(app, {
    prefix: CONSOLE_PATH,
    directory: CONSOLE_DIRECTORY,
    index: 'index.html',
    headers: CONSOLE_HEADERS,
  });
}
