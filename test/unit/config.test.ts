import { createECDH } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, enabledChannels, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('has the documented defaults and turns channels without settings off with a warning', () => {
    const { config, warnings } = loadConfig({});
    expect(config).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      redisUrlExplicit: false,
      prefix: 'herald',
      host: '127.0.0.1',
      port: 8080,
      defaultChannels: ['gotify', 'webpush', 'email'],
      maxAttempts: 5,
      backoffMs: 1000,
      backoffMaxMs: 300_000,
      allowPrivateEndpoints: false,
      shutdownMs: 10_000,
      statusRetentionSeconds: 604_800,
    });
    // The inbox needs only Redis: it is always on.
    expect(enabledChannels(config)).toEqual(['inbox']);
    expect(warnings).toHaveLength(5);
    expect(warnings.filter((w) => /^(ntfy|The webhook channel) is off/.test(w))).toHaveLength(2);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('notes what turns on each channel left off, beside its warning, and reads NODE_ENV', () => {
    const { config, warnings, channelsOff } = loadConfig({ GOTIFY_URL: 'https://gotify.example.org', NODE_ENV: 'production' });
    expect(channelsOff).toEqual({
      webpush: {
        remedy: 'set VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT (`herald vapid` makes a key pair)',
        warning: 'Web Push is off: set VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT (`herald vapid` makes a key pair)',
      },
      email: { remedy: 'set SMTP_URL and MAIL_FROM', warning: 'Email is off: set SMTP_URL and MAIL_FROM' },
      ntfy: { remedy: 'set NTFY_URL (recipients register their ntfy topics)', warning: 'ntfy is off: set NTFY_URL (recipients register their ntfy topics)' },
      webhook: {
        remedy: 'set HERALD_WEBHOOK_SECRET (`echo whsec_$(openssl rand -base64 32)` makes one)',
        warning: 'The webhook channel is off: set HERALD_WEBHOOK_SECRET (`echo whsec_$(openssl rand -base64 32)` makes one)',
      },
    });
    expect([...warnings].sort()).toEqual(
      Object.values(channelsOff)
        .map((off) => off!.warning)
        .sort(),
    );
    expect(config.production).toBe(true);
    expect(loadConfig({ NODE_ENV: 'development' }).config.production).toBe(false);
    expect(loadConfig({}).config.production).toBe(false);
  });

  it('lists every bad variable in one error, without echoing secrets', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({
        REDIS_URL: 'http://nope',
        HERALD_PORT: 'eighty',
        HERALD_MAX_ATTEMPTS: '0',
        HERALD_API_KEYS: 'supersecretvalue-abcdef:root',
        HERALD_DEFAULT_CHANNELS: 'gotify,sms',
        SMTP_URL: 'smtp://user:hunter2@mail.example.org:587',
        VAPID_PUBLIC_KEY: 'short',
      });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const vars = error!.problems.map((p) => p.split(' ')[0]);
    expect(vars).toEqual(
      expect.arrayContaining([
        'REDIS_URL',
        'HERALD_PORT',
        'HERALD_MAX_ATTEMPTS',
        'HERALD_API_KEYS',
        'HERALD_DEFAULT_CHANNELS',
        'MAIL_FROM',
        'VAPID_PUBLIC_KEY',
        'VAPID_PRIVATE_KEY',
        'VAPID_SUBJECT',
      ]),
    );
    expect(error!.message).not.toContain('supersecretvalue');
    expect(error!.message).not.toContain('hunter2');
  });

  it('parses API keys and channel settings', () => {
    const { config } = loadConfig({
      HERALD_API_KEYS: '7f3a9c2e5b8d1f4a:publish, e4b1d7a9c3f6e2b8:admin',
      GOTIFY_URL: 'https://push.example.org/',
      GOTIFY_TOKEN: 'Atok',
      SMTP_URL: 'smtps://u:p@mail.example.org',
      MAIL_FROM: 'Herald <n@example.org>',
    });
    expect(config.apiKeys).toEqual([
      { secret: '7f3a9c2e5b8d1f4a', scope: 'publish' },
      { secret: 'e4b1d7a9c3f6e2b8', scope: 'admin' },
    ]);
    expect(config.gotify).toEqual({ url: 'https://push.example.org', defaultToken: 'Atok', shared: false });
    expect(enabledChannels(config)).toEqual(['gotify', 'email', 'inbox']);
  });

  it('uses GOTIFY_TOKEN only when HERALD_GOTIFY_SHARED=1 says so, and says when it goes unused', () => {
    const url = { GOTIFY_URL: 'https://push.example.org' };
    const unshared = loadConfig({ ...url, GOTIFY_TOKEN: 'Atok' });
    expect(unshared.config.gotify?.shared).toBe(false);
    expect(unshared.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/GOTIFY_TOKEN is not used: set HERALD_GOTIFY_SHARED=1/)]));
    const shared = loadConfig({ ...url, GOTIFY_TOKEN: 'Atok', HERALD_GOTIFY_SHARED: '1' });
    expect(shared.config.gotify).toEqual({ url: 'https://push.example.org', defaultToken: 'Atok', shared: true });
    expect(shared.warnings.some((w) => w.includes('GOTIFY_TOKEN'))).toBe(false);
    expect(() => loadConfig({ ...url, HERALD_GOTIFY_SHARED: '1' })).toThrow(/HERALD_GOTIFY_SHARED=1 needs GOTIFY_TOKEN/);
    expect(() => loadConfig({ ...url, GOTIFY_TOKEN: 'Atok', HERALD_GOTIFY_SHARED: 'sure' })).toThrow(/HERALD_GOTIFY_SHARED must be 1 or 0/);
  });

  it("refuses a VAPID public key that is not the private key's", () => {
    const a = createECDH('prime256v1');
    a.generateKeys();
    const b = createECDH('prime256v1');
    b.generateKeys();
    const env = { VAPID_SUBJECT: 'mailto:ops@example.org', VAPID_PRIVATE_KEY: a.getPrivateKey().toString('base64url') };
    expect(loadConfig({ ...env, VAPID_PUBLIC_KEY: a.getPublicKey().toString('base64url') }).config.vapid).not.toBeNull();
    expect(() => loadConfig({ ...env, VAPID_PUBLIC_KEY: b.getPublicKey().toString('base64url') })).toThrow(/not the public half/);
  });

  it('needs an address in MAIL_FROM', () => {
    expect(() => loadConfig({ SMTP_URL: 'smtp://mail.example.org', MAIL_FROM: 'Herald' })).toThrow(/MAIL_FROM must hold an email address/);
    expect(loadConfig({ SMTP_URL: 'smtp://mail.example.org', MAIL_FROM: 'noreply@example.org' }).config.smtp?.from).toBe('noreply@example.org');
    expect(loadConfig({ SMTP_URL: 'smtp://mail.example.org', MAIL_FROM: 'Herald <noreply@example.org>' }).config.smtp?.from).toBe(
      'Herald <noreply@example.org>',
    );
  });

  it('refuses an SMTP_URL whose query would send its credentials in clear text, without echoing it', () => {
    const env = { MAIL_FROM: 'noreply@example.org' };
    let error: ConfigError | undefined;
    try {
      loadConfig({ ...env, SMTP_URL: 'smtp://user:hunter2@mail.example.org:587?requireTLS=false&ignoreTLS=true' });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error?.problems).toEqual([
      'SMTP_URL carries credentials, which Herald sends only over TLS: remove requireTLS, ignoreTLS from its query (or use smtps://)',
    ]);
    expect(loadConfig({ ...env, SMTP_URL: 'smtp://user:hunter2@mail.example.org:587?requireTLS=true' }).config.smtp).not.toBeNull();
    expect(loadConfig({ ...env, SMTP_URL: 'smtps://user:hunter2@mail.example.org?ignoreTLS=true' }).config.smtp).not.toBeNull();
    expect(loadConfig({ ...env, SMTP_URL: 'smtp://relay.internal:25?ignoreTLS=true' }).config.smtp).not.toBeNull();
  });

  it('keeps the inbox within its documented bounds', () => {
    expect(loadConfig({}).config.inbox).toEqual({ maxItems: 200, retentionSeconds: 30 * 86_400 });
    expect(loadConfig({ HERALD_INBOX_MAX_ITEMS: '5', HERALD_INBOX_RETENTION_SECONDS: '3600' }).config.inbox).toEqual({ maxItems: 5, retentionSeconds: 3600 });
    expect(() => loadConfig({ HERALD_INBOX_MAX_ITEMS: '0' })).toThrow(/HERALD_INBOX_MAX_ITEMS/);
  });

  it('sets concurrency for every channel, or for one', () => {
    expect(loadConfig({}).config.concurrency).toEqual({ gotify: 50, webpush: 50, email: 50, ntfy: 50, webhook: 50, inbox: 50 });
    expect(loadConfig({ HERALD_CONCURRENCY: '20', HERALD_CONCURRENCY_EMAIL: '4', HERALD_CONCURRENCY_WEBHOOK: '8' }).config.concurrency).toEqual({
      gotify: 20,
      webpush: 20,
      email: 4,
      ntfy: 20,
      webhook: 8,
      inbox: 20,
    });
    expect(() => loadConfig({ HERALD_CONCURRENCY_WEBPUSH: '0' })).toThrow(/HERALD_CONCURRENCY_WEBPUSH/);
    expect(() => loadConfig({ HERALD_CONCURRENCY_NTFY: '0' })).toThrow(/HERALD_CONCURRENCY_NTFY/);
  });

  it('turns ntfy on with NTFY_URL (a trailing slash dropped) and its token, and refuses a token that cannot be a header', () => {
    const { config, warnings } = loadConfig({ NTFY_URL: 'https://ntfy.example.org/', NTFY_TOKEN: 'tk_abcdefghijklmnopqrstuvwxyz012' });
    expect(config.ntfy).toEqual({ url: 'https://ntfy.example.org', token: 'tk_abcdefghijklmnopqrstuvwxyz012' });
    expect(enabledChannels(config)).toEqual(['ntfy', 'inbox']);
    expect(warnings.filter((w) => w.startsWith('ntfy'))).toEqual([]);
    expect(loadConfig({ NTFY_URL: 'http://ntfy:80' }).config.ntfy).toEqual({ url: 'http://ntfy:80' });
    expect(loadConfig({ NTFY_TOKEN: 'tk_unused0123456789' }).warnings.filter((w) => w.includes('NTFY'))).toEqual([
      'ntfy is off: set NTFY_URL (recipients register their ntfy topics); NTFY_TOKEN is not used without it',
    ]);
    expect(() => loadConfig({ NTFY_URL: 'ftp://ntfy.example.org' })).toThrow(/NTFY_URL must start with http:\/\/ or https:\/\//);
    expect(() => loadConfig({ NTFY_URL: 'https://ntfy.example.org', NTFY_TOKEN: 'tk_a b' })).toThrow(/NTFY_TOKEN must be visible ASCII/);
  });

  it('turns the webhook channel on with a Standard Webhooks secret, and names what is wrong with a bad one', () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const { config } = loadConfig({ HERALD_WEBHOOK_SECRET: secret });
    expect(config.webhook).toEqual({ secret });
    expect(enabledChannels(config)).toEqual(['webhook', 'inbox']);
    const problems = (value: string) => {
      try {
        loadConfig({ HERALD_WEBHOOK_SECRET: value });
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(problems(Buffer.alloc(32, 7).toString('base64'))).toEqual([expect.stringMatching(/^HERALD_WEBHOOK_SECRET must start with whsec_/)]);
    expect(problems('whsec_not base64!')).toEqual([expect.stringMatching(/^HERALD_WEBHOOK_SECRET must be whsec_ followed by base64/)]);
    expect(problems(`whsec_${Buffer.alloc(16, 7).toString('base64')}`)).toEqual([
      expect.stringMatching(/^HERALD_WEBHOOK_SECRET must encode 24 to 64 bytes \(it encodes 16\)/),
    ]);
  });

  it('takes ntfy and webhook in HERALD_DEFAULT_CHANNELS, and keeps them out of the default', () => {
    expect(loadConfig({}).config.defaultChannels).toEqual(['gotify', 'webpush', 'email']);
    expect(loadConfig({ HERALD_DEFAULT_CHANNELS: 'webhook,ntfy,email' }).config.defaultChannels).toEqual(['webhook', 'ntfy', 'email']);
  });

  it('lets concurrent enqueues linger 5 ms by default, or as asked', () => {
    expect(loadConfig({}).config.enqueueLingerMs).toBe(5);
    expect(loadConfig({ HERALD_ENQUEUE_LINGER_MS: '0' }).config.enqueueLingerMs).toBe(0);
    expect(() => loadConfig({ HERALD_ENQUEUE_LINGER_MS: '5000' })).toThrow(/HERALD_ENQUEUE_LINGER_MS/);
  });

  it('encrypts Web Push in one thread when there is a second core, as many as asked, or none', () => {
    expect(loadConfig({}).config.webpushCryptoThreads).toBe(availableParallelism() > 1 ? 1 : 0);
    expect(loadConfig({ HERALD_WEBPUSH_CRYPTO_THREADS: '3' }).config.webpushCryptoThreads).toBe(3);
    expect(loadConfig({ HERALD_WEBPUSH_CRYPTO_THREADS: '0' }).config.webpushCryptoThreads).toBe(0);
    expect(() => loadConfig({ HERALD_WEBPUSH_CRYPTO_THREADS: '-1' })).toThrow(/HERALD_WEBPUSH_CRYPTO_THREADS/);
  });
});
