/**
 * Job tokens. A status record holds the token of its one live delivery job; only the holder of the
 * current token may change the record, and every hand-on (retry, next channel, replay) writes a new
 * one, so a duplicate or stale job is dropped without sending.
 */
import { randomBytes } from 'node:crypto';

const TOKEN_BYTES = 12;

export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/** Tokens for a whole batch from one call to the random source. */
export function newTokens(count: number): string[] {
  const bytes = randomBytes(TOKEN_BYTES * count);
  return Array.from({ length: count }, (_, i) => bytes.subarray(i * TOKEN_BYTES, (i + 1) * TOKEN_BYTES).toString('base64url'));
}
