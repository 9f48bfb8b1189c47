import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY, Harness, PUBLISH_KEY } from '../helpers/harness.js';
import { PushService, vapidEnv } from '../helpers/push-service.js';
import { SmtpDouble } from '../helpers/smtp-double.js';

let h: Harness;
afterEach(async () => h?.close());

const DEFAULT_TOKEN = 'AdefaultGotifySecret-111';
const USER_TOKEN = 'AuserGotifySecret-222';
const EXPLICIT_TOKEN = 'AexplicitGotifySecret-333';
const SMTP_USER = 'herald';
const SMTP_PASSWORD = 'Smtp-Secret-pw-444';
const UNKNOWN_KEY = 'unknown-api-key-secret-555';

const NTFY_TOKEN = 'tk_ntfy0access0token0for0logs';
const WEBHOOK_SECRET = `whsec_${Buffer.from('a webhook signing secret, 32 b.').toString('base64')}`;

describe('logs', () => {
  it('carry per-delivery context and never a secret, through deliveries, failures, HTTP and objects logged by accident', async () => {
    const vapid = vapidEnv();
    // STARTTLS: credentials in SMTP_URL are sent only over TLS (the double's certificate is self-signed).
    const smtp = await new SmtpDouble({ tls: 'starttls', auth: { user: SMTP_USER, pass: 'the-right-one' } }).start();
    h = await Harness.create({
      env: {
        ...vapid,
        GOTIFY_TOKEN: DEFAULT_TOKEN,
        SMTP_URL: `${smtp.url({ user: SMTP_USER, pass: SMTP_PASSWORD })}?tls.rejectUnauthorized=false`,
        MAIL_FROM: 'herald@example.org',
        NTFY_URL: 'https://ntfy.example.org',
        NTFY_TOKEN: NTFY_TOKEN,
        HERALD_WEBHOOK_SECRET: WEBHOOK_SECRET,
      },
    });
    h.onClose(() => smtp.close());
    const push = await new PushService(vapid.VAPID_PUBLIC_KEY!).start();
    h.onClose(() => push.close());

    // Gotify: one 503 for "retry" (a retry is logged), 401 for "refuse" (falls through to email).
    h.gotify.respond = (request) => {
      const message = String(JSON.parse(request.body.toString()).message);
      if (message === 'refuse') return { status: 401 };
      if (message === 'retry' && h.gotify.requests.filter((r) => r.body.includes('"retry"')).length === 1) return { status: 503 };
      return undefined;
    };
    const gone = push.browser();
    const flaky = push.browser();
    const explicit = push.browser();
    push.answer(gone, { status: 404 }).answer(flaky, { status: 500 });
    await h.herald.recipients.set('u-secret', { gotify: { token: USER_TOKEN }, email: 'bob@example.org' });
    const goneId = await h.herald.recipients.addWebPush('u-secret', gone.subscription);
    await h.herald.recipients.addWebPush('u-secret', flaky.subscription);
    const worker = await h.startWorker();

    const retried = await h.herald.notify({ to: 'u-secret', message: 'retry', channels: ['gotify'] });
    // 401 on Gotify, then the wrong SMTP password: dead-lettered.
    const lost = await h.herald.notify({
      targets: { gotify: { token: EXPLICIT_TOKEN }, email: 'x@example.org' },
      message: 'refuse',
      channels: ['gotify', 'email'],
    });
    const pushed = await h.herald.notify({ to: 'u-secret', message: 'push', channels: ['webpush'] });
    const direct = await h.herald.notify({ targets: { webpush: [explicit.subscription] }, message: 'direct', channels: ['webpush'] });
    await h.waitForStatus(retried.id, 'delivered');
    const dead = await h.waitForStatus(lost.id, 'failed');
    expect(dead.attempts.map((a) => a.code)).toEqual(['HERALD_GOTIFY_HTTP_401', 'HERALD_SMTP_AUTH']);
    await h.waitForStatus(
      pushed.id,
      (s) => s.status === 'delivered' && s.attempts.filter((a) => a.outcome === 'delivered').length === 1 && s.attempts.length === 3,
    );
    await h.waitForStatus(direct.id, 'delivered');

    // HTTP with every kind of key, and a body that carries a token.
    const app = await h.app();
    for (const key of [ADMIN_KEY, PUBLISH_KEY, UNKNOWN_KEY]) {
      await app.inject({
        method: 'POST',
        url: '/v1/notifications',
        headers: { authorization: `Bearer ${key}` },
        payload: { to: 'u-1', message: 5, targets: { gotify: { token: EXPLICIT_TOKEN } } },
      });
      await app.inject({ method: 'GET', url: '/v1/stats', headers: { authorization: `Bearer ${key}` } });
    }

    // Objects a future change might log by mistake: all of them must come out censored.
    const log = h.logger.child({ component: 'accident', token: USER_TOKEN });
    log.info({ config: h.config, env: h.env }, 'configuration');
    log.info({ notification: (await h.herald.store.getRecord(direct.id))!.notification }, 'notification');
    log.info({ recipient: await h.herald.recipients.get('u-secret'), subscription: flaky.subscription }, 'recipient');
    log.info({ req: { headers: { authorization: `Bearer ${ADMIN_KEY}`, 'x-gotify-key': USER_TOKEN } } }, 'request');
    log.error(
      {
        err: Object.assign(new Error('provider said no'), {
          headers: { 'x-gotify-key': DEFAULT_TOKEN },
          options: { auth: { user: SMTP_USER, pass: SMTP_PASSWORD } },
        }),
      },
      'provider error',
    );
    await worker.close(1000);

    const secrets = [
      ADMIN_KEY,
      PUBLISH_KEY,
      UNKNOWN_KEY,
      DEFAULT_TOKEN,
      USER_TOKEN,
      EXPLICIT_TOKEN,
      vapid.VAPID_PRIVATE_KEY!,
      SMTP_PASSWORD,
      encodeURIComponent(SMTP_PASSWORD),
      NTFY_TOKEN,
      WEBHOOK_SECRET,
      WEBHOOK_SECRET.slice('whsec_'.length),
      ...[gone, flaky, explicit].flatMap((b) => [b.path, b.subscription.keys.p256dh, b.subscription.keys.auth]),
    ];
    const text = h.logs.raw.join('\n');
    for (const secret of secrets) expect(text, `a log line holds ${secret}`).not.toContain(secret);

    // The lines are there, with their context: otherwise the check above proves nothing.
    const lines = h.logs.lines;
    // Retries are summed per channel and failure code, not logged one by one; a stopping worker logs what it counted.
    const summaries = lines.filter((l) => l.msg === 'retries scheduled');
    expect(summaries.find((l) => l.channel === 'gotify')).toMatchObject({ retries: 1, codes: { HERALD_GOTIFY_HTTP_503: 1 }, workerId: worker.id });
    expect(summaries.find((l) => l.channel === 'webpush')).toMatchObject({ retries: 1, codes: { HERALD_WEBPUSH_HTTP_500: 1 }, workerId: worker.id });
    expect(lines.find((l) => l.msg === 'notification dead-lettered')).toMatchObject({ notificationId: lost.id, code: 'HERALD_SMTP_AUTH', workerId: worker.id });
    // At debug, each delivery step says what became of it; a retry adds its failure code and delay.
    const steps = lines.filter((l) => l.msg === 'delivery step done' && l.notificationId === retried.id);
    expect(steps.map((l) => [l.attempt, l.outcome, l.code])).toEqual([
      [1, 'retry', 'HERALD_GOTIFY_HTTP_503'],
      [2, 'delivered', undefined],
    ]);
    expect(steps[0]).toMatchObject({ channel: 'gotify', workerId: worker.id, delayMs: expect.any(Number) });
    expect(lines.find((l) => l.msg === 'configuration')).toMatchObject({
      token: '[redacted]',
      config: { apiKeys: '[redacted]', gotify: { defaultToken: '[redacted]' }, vapid: { privateKey: '[redacted]' }, smtp: { url: '[redacted]' } },
      env: {
        HERALD_API_KEYS: '[redacted]',
        GOTIFY_TOKEN: '[redacted]',
        VAPID_PRIVATE_KEY: '[redacted]',
        SMTP_URL: '[redacted]',
        NTFY_TOKEN: '[redacted]',
        HERALD_WEBHOOK_SECRET: '[redacted]',
      },
    });
    expect(lines.find((l) => l.msg === 'notification')).toMatchObject({
      notification: { targets: { webpush: [{ endpoint: '[redacted]', keys: '[redacted]' }] } },
    });
    expect(lines.find((l) => l.msg === 'recipient')).toMatchObject({
      recipient: { gotify: { token: '[redacted]' }, webpush: expect.arrayContaining([expect.objectContaining({ endpoint: '[redacted]' })]) },
      subscription: { endpoint: '[redacted]', keys: '[redacted]' },
    });
    expect((lines.find((l) => l.msg === 'recipient')!.recipient as { webpush: { id: string }[] }).webpush.map((s) => s.id)).not.toContain(goneId);
    // Errors go under `err`, serialized with type and message.
    expect(lines.find((l) => l.msg === 'provider error')).toMatchObject({
      level: 50,
      err: { type: 'Error', message: 'provider said no', headers: { 'x-gotify-key': '[redacted]' }, options: { auth: '[redacted]' } },
    });
  });
});
