import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from '../../src/delivery/backoff.js';
import { parseRetryAfter, httpFailure, networkFailure } from '../../src/channels/classify.js';

describe('backoff', () => {
  it('doubles per retry within [half, full] and respects the cap', () => {
    const policy = { baseMs: 1000, maxMs: 5000 };
    expect(backoffDelayMs(1, policy, () => 0)).toBe(500);
    expect(backoffDelayMs(1, policy, () => 1)).toBe(1000);
    expect(backoffDelayMs(3, policy, () => 1)).toBe(4000);
    expect(backoffDelayMs(10, policy, () => 1)).toBe(5000);
    expect(backoffDelayMs(10, policy, () => 0)).toBe(2500);
  });
});

describe('failure classification', () => {
  it('reads Retry-After as seconds or an HTTP date, capped', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('999999', now)).toBe(15 * 60_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('maps status codes to kinds', () => {
    expect([400, 401, 403, 404, 413].map((s) => httpFailure('GOTIFY', s).kind)).toEqual(['permanent', 'permanent', 'permanent', 'permanent', 'permanent']);
    expect([408, 500, 502, 503, 504].map((s) => httpFailure('GOTIFY', s).kind)).toEqual(['transient', 'transient', 'transient', 'transient', 'transient']);
    const limited = httpFailure('GOTIFY', 429, '3');
    expect([limited.kind, limited.retryAfterMs, limited.code]).toEqual(['rate_limited', 3000, 'HERALD_GOTIFY_HTTP_429']);
  });

  it('classifies network errors by their code, through cause chains', () => {
    const refused = Object.assign(new Error('whatever text'), { code: 'ECONNREFUSED' });
    expect(networkFailure('GOTIFY', new Error('fetch failed', { cause: refused })).code).toBe('HERALD_NET_ECONNREFUSED');
    // A request cut short by its deadline (or by shutdown) is a timeout, whatever the error says.
    expect(networkFailure('GOTIFY', new Error('x'), true).code).toBe('HERALD_TIMEOUT');
    expect(networkFailure('GOTIFY', new Error('x'), false).code).toBe('HERALD_NET_ERROR');
  });
});
