import { describe, expect, it } from 'vitest';
import { generateSecret, secretProblem, sign, signingKey } from '../../src/channels/standard-webhooks.js';
import { signatureProblems } from '../helpers/webhook-receiver.js';

describe('Standard Webhooks signatures', () => {
  it("matches the specification's published example", () => {
    const headers = sign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
    expect(headers).toEqual({
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    });
  });

  it('signs what an independent receiver verifies, and nothing else', () => {
    const secret = generateSecret();
    const body = Buffer.from('{"id":"n-1","message":"Grüße"}');
    const now = Date.now();
    const headers = sign(signingKey(secret), 'n-1', now / 1000, body);
    expect(signatureProblems(secret, headers, body, now)).toEqual([]);
    // Another body, another id, another secret or a stale timestamp do not verify.
    expect(signatureProblems(secret, headers, Buffer.from('{"id":"n-1","message":"Grüsse"}'), now)).toEqual(['no v1 signature in webhook-signature verifies']);
    expect(signatureProblems(secret, { ...headers, 'webhook-id': 'n-2' }, body, now)).toEqual(['no v1 signature in webhook-signature verifies']);
    expect(signatureProblems(generateSecret(), headers, body, now)).toEqual(['no v1 signature in webhook-signature verifies']);
    expect(signatureProblems(secret, headers, body, now + 10 * 60_000)).toEqual(['webhook-timestamp is more than 5 minutes away']);
    // The timestamp is whole unix seconds.
    expect(headers['webhook-timestamp']).toBe(String(Math.floor(now / 1000)));
  });

  it('accepts whsec_ and the base64 of 24 to 64 bytes, and says what is wrong with anything else without repeating it', () => {
    const b64 = (bytes: number) => Buffer.alloc(bytes, 0xa5).toString('base64');
    expect(secretProblem(`whsec_${b64(24)}`)).toBeNull();
    expect(secretProblem(`whsec_${b64(64)}`)).toBeNull();
    expect(secretProblem(b64(32))).toBe('must start with whsec_');
    expect(secretProblem('whsec_')).toBe('must be whsec_ followed by base64');
    expect(secretProblem('whsec_abc$def=')).toBe('must be whsec_ followed by base64');
    expect(secretProblem(`whsec_${b64(32)}`.slice(0, -1))).toBe('must be whsec_ followed by base64');
    expect(secretProblem(`whsec_${b64(23)}`)).toBe('must encode 24 to 64 bytes (it encodes 23)');
    expect(secretProblem(`whsec_${b64(65)}`)).toBe('must encode 24 to 64 bytes (it encodes 65)');
    const bad = `whsec_${b64(8)}`;
    expect(() => signingKey(bad)).toThrow(RangeError);
    expect(() => signingKey(bad)).not.toThrow(bad.slice(6));
  });

  it('makes secrets of 32 random bytes', () => {
    const [a, b] = [generateSecret(), generateSecret()];
    expect(secretProblem(a!)).toBeNull();
    expect(signingKey(a!)).toHaveLength(32);
    expect(a).not.toBe(b);
  });
});
