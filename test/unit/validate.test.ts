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
    expect(fieldsOf({ id: 'bad id!', to: '', message: '', priority: 11, ttlSeconds: 0, channels: ['sms'], collapseKey: 'has space', extra: 1 })).toEqual([
      'channels.0',
      'collapseKey',
      'extra',
      'id',
      'message',
      'priority',
      'to',
      'ttlSeconds',
    ]);
  });

  it('rejects wrong types', () => {
    expect(fieldsOf({ to: 42, message: ['x'], skipIfOnline: 'yes', data: 'str' })).toEqual(['data', 'message', 'skipIfOnline', 'to']);
    expect(fieldsOf(null)).toEqual(['']);
    expect(fieldsOf('text')).toEqual(['']);
  });

  it('keeps skipIfPresentIn, a context of 1 to 128 characters', () => {
    expect(validateNotification({ to: 'u-1', message: 'hi', skipIfPresentIn: 'room:42' }).skipIfPresentIn).toBe('room:42');
    expect(fieldsOf({ to: 'u-1', message: 'hi', skipIfPresentIn: 'r'.repeat(129) })).toEqual(['skipIfPresentIn']);
    expect(fieldsOf({ to: 'u-1', message: 'hi', skipIfPresentIn: '' })).toEqual(['skipIfPresentIn']);
  });

  it('needs a recipient or explicit targets', () => {
    expect(fieldsOf({ message: 'hi' })).toEqual(['to']);
    expect(validateNotification({ message: 'hi', targets: { email: 'a@b.org' } }).targets).toEqual({ email: 'a@b.org' });
  });

  it('limits data to 2 KiB', () => {
    expect(fieldsOf({ to: 'u', message: 'm', data: { blob: 'x'.repeat(2100) } })).toEqual(['data']);
  });

  it('allows https: and the listed app schemes in url, and nothing else', () => {
    const rules = { appSchemes: ['mesh'] };
    const url = (value: string, appSchemes = rules) => {
      try {
        return validateNotification({ to: 'u', message: 'm', url: value }, Date.now(), appSchemes).url;
      } catch (err) {
        expect((err as HeraldError).details.map((d) => d.field)).toEqual(['url']);
        return (err as HeraldError).details[0]!.message;
      }
    };
    for (const allowed of ['https://example.org/rooms/1?x=1#y', 'mesh://room/1', 'mesh:room/1', 'MESH://room/1']) expect(url(allowed), allowed).toBe(allowed);
    const refused = [
      'intent://scan/#Intent;scheme=zxing;package=com.evil;end',
      'content://com.android.contacts/contacts',
      'ms-settings:privacy',
      'smb://10.0.0.1/share',
      'blob:https://example.org/5c7f0c8e',
      'javascript:alert(1)',
      'data:text/html,<script>',
      'http://example.org/x',
      'file:///etc/passwd',
      'vbscript:x',
      'tel:+123',
      'mesh2://room/1',
    ];
    for (const value of refused) expect(url(value), value).toMatch(/^The [a-z0-9-]+: scheme is not allowed; use https:, mesh: \(HERALD_APP_SCHEMES/);
    expect(url('mesh://room/1', { appSchemes: [] })).toBe('The mesh: scheme is not allowed; use https: (HERALD_APP_SCHEMES lists the app schemes)');
    expect(url('https://user:pw@example.org/x')).toBe('Must not carry a user name or password');
    expect(url('https://exa mple.org/x')).toBe('Must not contain spaces or control characters');
    expect(url('https://example.org/\u0000x')).toBe('Must not contain spaces or control characters');
    expect(url('mesh:')).toBe('Expected something after mesh:');
    expect(url('not-a-url')).toBe('Expected an absolute URL with one of the schemes https:, mesh:');
  });

  it('needs email addresses on a dotted domain', () => {
    for (const email of ['a@[127.0.0.1]', 'root@localhost', 'a@127.0.0.1', 'a@b..org', 'a@-b.org', 'a@b.org.', 'a\\b@example.org']) {
      expect(() => validateNotification({ message: 'm', targets: { email } }), email).toThrow(HeraldError);
    }
    try {
      validateNotification({ message: 'm', targets: { email: 'root@localhost' } });
    } catch (err) {
      expect((err as HeraldError).details).toEqual([
        { field: 'targets.email', message: 'Expected an email address on a dotted domain, such as bob@example.org' },
      ]);
    }
    for (const email of ['bob@example.org', 'bob.smith+tag@mail.example.co.uk', 'jörg@müller.de', 'x@xn--mller-kva.de']) {
      expect(validateNotification({ message: 'm', targets: { email } }).targets?.email).toBe(email);
    }
  });

  it('turns delayMs into sendAt, and refuses a schedule after expiry or both forms', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(validateNotification({ to: 'u', message: 'm', delayMs: 60_000 }, now).sendAt).toBe('2026-01-01T00:01:00.000Z');
    expect(fieldsOf({ to: 'u', message: 'm', delayMs: 10_000, ttlSeconds: 5 })).toEqual(['delayMs']);
    expect(fieldsOf({ to: 'u', message: 'm', sendAt: 'tomorrow' })).toEqual(['sendAt']);
    expect(fieldsOf({ to: 'u', message: 'm', sendAt: '2026-01-01T00:01:00Z', delayMs: 5 })).toEqual(['sendAt']);
  });

  it('keeps groupKey and digest, and refuses a digest without a groupKey or recipient, with a schedule, or outlasting the ttl', () => {
    const digest = { windowSeconds: 60 };
    expect(validateNotification({ to: 'u', message: 'm', groupKey: 'room:42', digest })).toMatchObject({ groupKey: 'room:42', digest });
    expect(validateNotification({ to: 'u', message: 'm', groupKey: 'room:42' }).digest).toBeUndefined();
    expect(fieldsOf({ to: 'u', message: 'm', digest })).toEqual(['digest']);
    expect(fieldsOf({ targets: { email: 'a@example.org' }, message: 'm', groupKey: 'g', digest })).toEqual(['digest']);
    expect(fieldsOf({ to: 'u', message: 'm', groupKey: 'g', digest, delayMs: 5000 })).toEqual(['digest']);
    expect(fieldsOf({ to: 'u', message: 'm', groupKey: 'g', digest, sendAt: '2026-01-01T00:01:00Z' })).toEqual(['digest']);
    expect(fieldsOf({ to: 'u', message: 'm', groupKey: 'g', digest, ttlSeconds: 60 })).toEqual(['digest.windowSeconds']);
    expect(fieldsOf({ to: 'u', message: 'm', groupKey: 'g', digest: { windowSeconds: 0 } })).toEqual(['digest.windowSeconds']);
    expect(fieldsOf({ to: 'u', message: 'm', groupKey: 'g', digest: { windowSeconds: 86_401 } })).toEqual(['digest.windowSeconds']);
    expect(fieldsOf({ to: 'u', message: 'm', groupKey: 'g', digest: { windowSeconds: 5, every: 2 } })).toEqual(['digest.every']);
    expect(fieldsOf({ to: 'u', message: 'm', groupKey: '', digest })).toEqual(['groupKey']);
    expect(fieldsOf({ to: 'u', message: 'm', groupKey: 'g'.repeat(129) })).toEqual(['groupKey']);
  });

  it('keeps escalateAfterSeconds with the inbox first, and refuses it with another first channel, without a recipient, outlasting the ttl or out of range', () => {
    const escalate = { to: 'u', message: 'm', channels: ['inbox', 'gotify'], escalateAfterSeconds: 300 } as const;
    expect(validateNotification(escalate).escalateAfterSeconds).toBe(300);
    // A chain from the recipient or the default is judged at delivery.
    expect(validateNotification({ to: 'u', message: 'm', escalateAfterSeconds: 300 }).escalateAfterSeconds).toBe(300);
    expect(fieldsOf({ ...escalate, channels: ['gotify', 'inbox'] })).toEqual(['escalateAfterSeconds']);
    expect(fieldsOf({ targets: { email: 'a@example.org' }, message: 'm', escalateAfterSeconds: 300 })).toEqual(['escalateAfterSeconds']);
    expect(fieldsOf({ ...escalate, ttlSeconds: 300 })).toEqual(['escalateAfterSeconds']);
    expect(fieldsOf({ ...escalate, escalateAfterSeconds: 0 })).toEqual(['escalateAfterSeconds']);
    expect(fieldsOf({ ...escalate, escalateAfterSeconds: 86_401 })).toEqual(['escalateAfterSeconds']);
  });
});
