/**
 * Inbox tokens: what an app's backend hands a signed-in user's browser so that it reads that
 * user's inbox, and nothing else. A token is 32 random bytes (`hin_…`), kept in Redis under its
 * SHA-256 digest with the user id and expiry, for its lifetime only (the key expires with it).
 * Random tokens in Redis rather than signed ones: every API process of a deployment already
 * shares Redis, so there is no signing secret to configure, distribute and rotate, and an inbox
 * request reads Redis anyway. Only the digest is stored, so a copy of Redis holds no usable token.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient } from '../redis/client.js';
import type { Keys } from './keys.js';

/** Every inbox token starts with this, so neither it nor an API key is mistaken for the other. */
export const INBOX_TOKEN_PREFIX = 'hin_';

/** A token's lifetime in seconds: the default, and the bounds `ttlSeconds` must lie in. */
export const INBOX_TOKEN_TTL_SECONDS = { default: 3600, min: 60, max: 86_400 } as const;

export interface InboxTokenGrant {
  userId: string;
  /** ISO 8601: the token is refused from then on. */
  expiresAt: string;
}

export class InboxTokens {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  /** A new token for `userId`'s inbox, valid `ttlSeconds`. */
  async mint(userId: string, ttlSeconds: number, now: number = Date.now()): Promise<{ token: string; expiresAt: string }> {
    const token = `${INBOX_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const expiresAt = new Date(now + ttlSeconds * 1000).toISOString();
    const grant: InboxTokenGrant = { userId, expiresAt };
    await this.redis.set(this.keys.inboxToken(digest(token)), JSON.stringify(grant), 'EX', ttlSeconds);
    return { token, expiresAt };
  }

  /** Whom `token` reaches, or null for a token that is malformed, unknown or expired. */
  async resolve(token: string, now: number = Date.now()): Promise<InboxTokenGrant | null> {
    if (!token.startsWith(INBOX_TOKEN_PREFIX) || token.length > 100) return null;
    const json = await this.redis.get(this.keys.inboxToken(digest(token)));
    if (!json) return null;
    const grant = JSON.parse(json) as InboxTokenGrant;
    // Redis expires keys lazily to the millisecond; the grant's own expiry is the word.
    return Date.parse(grant.expiresAt) > now ? grant : null;
  }
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
