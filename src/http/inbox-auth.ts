/**
 * Inbox token check for the `/v1/inbox` routes, which a user's browser calls from the app's own
 * origin. The token (`hin_…`, from `POST /v1/recipients/:userId/inbox-token`) reaches one user's
 * inbox and nothing else: it is not an API key (every other route refuses it with 401), and an
 * API key is not an inbox token (these routes refuse it with 401: no key reads a user's inbox; a
 * backend that needs to mints a token). `GET /v1/inbox/stream` also takes it as `?token=`, because
 * a browser's EventSource cannot send headers; the URL of that one route is never logged.
 * CORS: answers carry `Access-Control-Allow-Origin: *` without credentials. The token is a bearer
 * the page sends explicitly, never a cookie, so another origin gains nothing from CORS it would
 * not have with the token anyway (curl needs no CORS); the preflight allows the headers the page sends.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HeraldError } from '../errors.js';
import { bearerToken } from './auth.js';
import type { InboxService } from '../services/inbox.js';
import type { InboxTokenGrant } from '../store/inbox-tokens.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** An inbox route that also takes the inbox token as `?token=` (the EventSource stream). */
    tokenInQuery?: boolean;
  }
  interface FastifyRequest {
    /** Whose inbox the request's token reaches: set on inbox routes once the token is checked. */
    inboxGrant?: InboxTokenGrant;
  }
}

export const INBOX_CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'content-type',
} as const;

export const INBOX_PREFLIGHT_HEADERS = {
  ...INBOX_CORS_HEADERS,
  'access-control-allow-methods': 'GET, POST',
  'access-control-allow-headers': 'authorization, content-type, last-event-id',
  'access-control-max-age': '600',
} as const;

function tokenOf(request: FastifyRequest): string | undefined {
  const header = bearerToken(request);
  if (header) return header;
  if (request.routeOptions.config?.tokenInQuery) {
    const token = (request.query as Record<string, unknown> | undefined)?.token;
    if (typeof token === 'string') return token;
  }
  return undefined;
}

/** An onRequest hook for the inbox routes: CORS headers on every answer, then the token. */
export function inboxAuth(inbox: InboxService) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    reply.headers(INBOX_CORS_HEADERS);
    if (request.method === 'OPTIONS') return;
    const token = tokenOf(request);
    const grant = token ? await inbox.resolveToken(token) : null;
    if (!grant) {
      throw new HeraldError(
        'HERALD_ERR_UNAUTHORIZED',
        'Send a valid inbox token as "Authorization: Bearer <token>" (the app\'s backend mints one with POST /v1/recipients/:userId/inbox-token; API keys do not read inboxes)',
      );
    }
    request.inboxGrant = grant;
  };
}
