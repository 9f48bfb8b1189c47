import { describe, expect, it } from 'vitest';
import { HeraldError } from '../../src/errors.js';
import { validateNotification } from '../../src/validate.js';

function fieldsOf(input: unknown): string[] {
  try {
    validateNotification(input, Date.parse('2026-01-01T00:00:00Z'));
  } catch (err) {
    expect(err).toBeInstanceOf(HeraldError);
    expect((err as HeraldError).code).toBe('HERALD_ERR_VALIDATION');
    return (err as HeraldError).details.map((d) => d.field).sort();
  }
  throw new Error('expected a validation error');
}

describe('validateNotification', () => {
  it('applies defaults and generates an id', () => {
    const n = validateNotification({ to: 'u-1', message: 'hi' });
    expect(n).toMatchObject({ to: 'u-1', message: 'hi', priority: 5, ttlSeconds: 86_400 });
    expect(n.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('names every bad field at once', () => {
    expect(
      fieldsOf({ id: 'bad id!', to: '', message: '', priority: 11, ttlSeconds: 0, channels: ['sms'], collapseKey: 'has space', extra: 1 }),
    ).toEqual(['channels.0', 'collapseKey', 'extra', 'id', 'message', 'priority', 'to', 'ttlSeconds']);
  });

  it('rejects wrong types', () => {
    expect(fieldsOf({ to: 42, message: ['x'], skipIfOnline: 'yes', data: 'str' })).toEqual(['data', 'message', 'skipIfOnline', 'to']);
    expect(fieldsOf(null)).toEqual(['']);
    expect(fieldsOf('text')).toEqual(['']);
  });

  it('needs a recipient or explicit targets', () => {
    expect(fieldsOf({ message: 'hi' })).toEqual(['to']);
    expect(validateNotification({ message: 'hi', targets: { email: 'a@b.org' } }).targets).toEqual({ email: 'a@b.org' });
  });

  it('limits data to 2 KiB and refuses dangerous URL schemes', () => {
    expect(fieldsOf({ to: 'u', message: 'm', data: { blob: 'x'.repeat(2100) } })).toEqual(['data']);
    expect(fieldsOf({ to: 'u', message: 'm', url: 'javascript:alert(1)' })).toEqual(['url']);
    expect(validateNotification({ to: 'u', message: 'm', url: 'mesh://room/1' }).url).toBe('mesh://room/1');
  });

  it('turns delayMs into sendAt, and refuses a schedule after expiry or both forms', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(validateNotification({ to: 'u', message: 'm', delayMs: 60_000 }, now).sendAt).toBe('2026-01-01T00:01:00.000Z');
    expect(fieldsOf({ to: 'u', message: 'm', delayMs: 10_000, ttlSeconds: 5 })).toEqual(['delayMs']);
    expect(fieldsOf({ to: 'u', message: 'm', sendAt: 'tomorrow' })).toEqual(['sendAt']);
    expect(fieldsOf({ to: 'u', message: 'm', sendAt: '2026-01-01T00:01:00Z', delayMs: 5 })).toEqual(['sendAt']);
  });
});
