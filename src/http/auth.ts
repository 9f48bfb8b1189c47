/**
 * API key check. Keys are compared by their SHA-256 digest, so lookup time does not depend on how
 * much of a guessed secret is right, and the secrets themselves are never kept in a lookup table.
 */
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { ApiKey, ApiScope } from '../config.js';
import { HeraldError } from '../errors.js';

function digest(secret: string): string {
  return createHash('sha256').update(secret).digest('base64');
}

/** The secret of an `Authorization: Bearer <secret>` header, if the request has one. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}

export class ApiKeyChecker {
  private readonly scopes = new Map<string, ApiScope>();

  constructor(keys: readonly ApiKey[]) {
    for (const key of keys) this.scopes.set(digest(key.secret), key.scope);
  }

  /** Throws 401 for a missing or unknown key, 403 for a key without `required` (admin has all). */
  check(request: FastifyRequest, required: ApiScope): void {
    const secret = bearerToken(request);
    const scope = secret ? this.scopes.get(digest(secret)) : undefined;
    if (!scope) throw new HeraldError('HERALD_ERR_UNAUTHORIZED', 'Send a valid API key as "Authorization: Bearer <key>"');
    if (required === 'admin' && scope !== 'admin') {
      throw new HeraldError('HERALD_ERR_FORBIDDEN', 'This route needs an API key with the admin scope');
    }
  }
}
