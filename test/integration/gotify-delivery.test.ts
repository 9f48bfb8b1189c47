import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from '../helpers/harness.js';
import { SmtpDouble } from '../helpers/smtp-double.js';

let h: Harness;
afterEach(async () => h?.close());

describe('delivery through Gotify', () => {
  it('delivers an SDK notification with token, title, Markdown and click extras', async () => {
    h = await Harness.create();
    await h.herald.recipients.set('u-42', { gotify: { token: 'AuserToken' } });
    await h.startWorker();
    const { id, status, duplicate } = await h.herald.notify({
      to: 'u-42',
      title: 'Hi',
      message: 'Hello **Bob**',
      priority: 8,
      url: 'mesh://room/1',
      category: 'chat',
      data: { roomId: 1 },
    });
    expect(status).toBe('queued');
    expect(duplicate).toBe(false);

    const final = await h.waitForStatus(id, 'delivered');
    expect(final.channel).toBe('gotify');
    expect(final.to).toBe('u-42');
    expect(final.attempts).toHaveLength(1);
    expect(final.attempts[0]).toMatchObject({ channel: 'gotify', outcome: 'delivered', statusCode: 200 });

    expect(h.gotify.requests).toHaveLength(1);
    const request = h.gotify.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/message');
    expect(request.headers['x-gotify-key']).toBe('AuserToken');
    expect(h.gotify.json(0)).toEqual({
      title: 'Hi',
      message: 'Hello **Bob**',
      priority: 8,
      extras: {
        'client::display': { contentType: 'text/markdown' },
        'client::notification': { click: { url: 'mesh://room/1' } },
        'android::action': { onReceive: { intentUrl: 'mesh://room/1' } },
        'herald::notification': { id, category: 'chat', data: { roomId: 1 } },
      },
    });
  });

  it('with HERALD_GOTIFY_SHARED=1, uses GOTIFY_TOKEN for a registered recipient without a token of its own; explicit targets win; each attempt names its token kind', async () => {
    h = await Harness.create();
    await h.herald.recipients.set('u-shared', { email: 'shared@example.org' });
    await h.herald.recipients.set('u-own', { gotify: { token: 'AownToken' } });
    await h.startWorker();
    const sent = [
      await h.herald.notify({ to: 'u-shared', message: 'shared token' }),
      await h.herald.notify({ to: 'u-shared', targets: { gotify: { token: 'Aexplicit1' } }, message: 'explicit over shared' }),
      await h.herald.notify({ to: 'u-own', message: 'own token' }),
      await h.herald.notify({ to: 'u-own', targets: { gotify: { token: 'Aexplicit2' } }, message: 'explicit over own' }),
    ];
    const finals = await Promise.all(sent.map(({ id }) => h.waitForStatus(id, 'delivered')));
    expect(finals.map((s) => s.attempts.map((a) => a.tokenKind))).toEqual([['shared'], ['explicit'], ['recipient'], ['explicit']]);
    const tokens = Object.fromEntries(h.gotify.requests.map((r) => [JSON.parse(r.body.toString()).message, r.headers['x-gotify-key']]));
    expect(tokens).toEqual({
      'shared token': 'AdefaultToken',
      'explicit over shared': 'Aexplicit1',
      'own token': 'AownToken',
      'explicit over own': 'Aexplicit2',
    });
  });

  it("never sends an unknown or deleted recipient's notification through the shared token: skipped, with a code saying why; explicit targets still work", async () => {
    h = await Harness.create();
    await h.herald.recipients.set('u-leaving', { email: 'leaving@example.org' });
    const unknown = await h.herald.notify({ to: 'u-never', message: 'to nobody' });
    const deleted = await h.herald.notify({ to: 'u-leaving', message: 'to someone gone' });
    const explicit = await h.herald.notify({ to: 'u-never', targets: { gotify: { token: 'Aexplicit' } }, message: 'explicit' });
    // Deleted while its notification waits in the queue.
    await h.herald.recipients.delete('u-leaving');
    await h.startWorker();

    const skippedUnknown = await h.waitForStatus(unknown.id, 'skipped');
    expect(skippedUnknown.attempts).toEqual([expect.objectContaining({ outcome: 'skipped', code: 'HERALD_UNKNOWN_RECIPIENT' })]);
    const skippedDeleted = await h.waitForStatus(deleted.id, 'skipped');
    expect(skippedDeleted.attempts).toEqual([expect.objectContaining({ outcome: 'skipped', code: 'HERALD_RECIPIENT_DELETED' })]);
    const delivered = await h.waitForStatus(explicit.id, 'delivered');
    expect(delivered.attempts).toEqual([expect.objectContaining({ outcome: 'delivered', tokenKind: 'explicit' })]);
    expect(h.gotify.requests.map((r) => r.headers['x-gotify-key'])).toEqual(['Aexplicit']);
  });

  it('without HERALD_GOTIFY_SHARED, a recipient without a token of its own has no Gotify address: an email-only recipient gets email', async () => {
    const smtp = await new SmtpDouble().start();
    h = await Harness.create({ env: { HERALD_GOTIFY_SHARED: '0', SMTP_URL: smtp.url(), MAIL_FROM: 'Herald <noreply@example.org>' } });
    h.onClose(() => smtp.close());
    await h.herald.recipients.set('u-mail', { email: 'mail@example.org' });
    await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u-mail', message: 'by email' });
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.channel).toBe('email');
    expect(final.attempts.map((a) => [a.channel, a.outcome, a.code ?? null])).toEqual([
      ['gotify', 'skipped', 'HERALD_NO_ADDRESS'],
      ['webpush', 'skipped', 'HERALD_CHANNEL_DISABLED'],
      ['email', 'delivered', null],
    ]);
    expect(h.gotify.requests).toHaveLength(0);
    expect(smtp.accepted.map((t) => t.to)).toEqual([['mail@example.org']]);
  });

  it('retries transient failures (500, 503, timeout) with backoff, then delivers', async () => {
    h = await Harness.create({ env: { HERALD_PROVIDER_TIMEOUT_MS: '300' } });
    await h.register('u-1');
    h.gotify.answer({ status: 500 }, { status: 503 }, { delayMs: 1500 });
    await h.startWorker(['gotify']);
    const { id } = await h.herald.notify({ to: 'u-1', message: 'eventually' });
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.attempts.map((a) => [a.outcome, a.statusCode ?? null, a.code ?? null])).toEqual([
      ['transient', 500, 'HERALD_GOTIFY_HTTP_500'],
      ['transient', 503, 'HERALD_GOTIFY_HTTP_503'],
      ['transient', null, 'HERALD_TIMEOUT'],
      ['delivered', 200, null],
    ]);
    expect(h.gotify.requests).toHaveLength(4);
  });

  it('does not retry a permanent failure (401) and keeps the notification as failed', async () => {
    h = await Harness.create();
    await h.register('u-1');
    h.gotify.fallback = { status: 401, body: '{"error":"Unauthorized"}' };
    await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u-1', message: 'bad token', channels: ['gotify'] });
    const final = await h.waitForStatus(id, 'failed');
    expect(final.attempts).toEqual([expect.objectContaining({ channel: 'gotify', outcome: 'permanent', statusCode: 401, code: 'HERALD_GOTIFY_HTTP_401' })]);
    expect(h.gotify.requests).toHaveLength(1);
    const letter = await h.herald.deadLetters.get(id);
    expect(letter?.attempts).toHaveLength(1);
  });

  it('keeps retrying its only channel past HERALD_MAX_ATTEMPTS, with capped backoff, and delivers when the provider is back: nothing dead-lettered', async () => {
    h = await Harness.create({ env: { HERALD_MAX_ATTEMPTS: '3' } });
    await h.register('u-1');
    h.gotify.answer(...Array.from({ length: 6 }, () => ({ status: 503 })));
    await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u-1', message: 'after the outage', channels: ['gotify'] });
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.attempts.map((a) => a.outcome)).toEqual(['transient', 'transient', 'transient', 'transient', 'transient', 'transient', 'delivered']);
    expect(h.gotify.requests).toHaveLength(7);
    expect(await h.herald.deadLetters.count()).toBe(0);
  });

  it('ends expired at the ttl when the outage outlasts it: never dead-lettered, nothing sent but the recorded tries', async () => {
    h = await Harness.create({ env: { HERALD_MAX_ATTEMPTS: '2' } });
    await h.register('u-1');
    h.gotify.fallback = { status: 503 };
    await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u-1', message: 'never', channels: ['gotify'], ttlSeconds: 1 });
    const final = await h.waitForStatus(id, 'expired');
    expect(final.attempts.length).toBeGreaterThan(2);
    expect(new Set(final.attempts.map((a) => a.outcome))).toEqual(new Set(['transient']));
    expect(h.gotify.requests).toHaveLength(final.attempts.length);
    expect(Date.parse(final.updatedAt)).toBeGreaterThanOrEqual(Date.parse(final.createdAt) + 1000);
    expect(await h.herald.deadLetters.count()).toBe(0);
  });

  it('honours Retry-After on 429 for that delivery', async () => {
    h = await Harness.create();
    await h.register('u-1');
    h.gotify.answer({ status: 429, headers: { 'retry-after': '1' } });
    await h.startWorker(['gotify']);
    const { id } = await h.herald.notify({ to: 'u-1', message: 'slow down' });
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.attempts.map((a) => a.outcome)).toEqual(['transient', 'delivered']);
    const gap = h.gotify.requests[1]!.at - h.gotify.requests[0]!.at;
    expect(gap).toBeGreaterThanOrEqual(950);
  });
});
