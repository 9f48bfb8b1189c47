import { afterEach, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { FastifyInstance } from 'fastify';
import { ADMIN_KEY, Harness, PUBLISH_KEY, until } from '../helpers/harness.js';
import { SmtpDouble } from '../helpers/smtp-double.js';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text.js';
import { HeraldError } from '../../src/errors.js';
import type { BatchResult } from '../../src/sdk/herald.js';
import type { Status } from '../../src/types.js';

let h: Harness;
afterEach(async () => h?.close());

const auth = { authorization: `Bearer ${PUBLISH_KEY}` };
const admin = { authorization: `Bearer ${ADMIN_KEY}` };
const MINUTE_MS = 60_000;

/** `HH:MM` of the UTC clock `offsetMinutes` from the start of the current minute. */
function utcClock(offsetMinutes: number): string {
  const minutes = (((Math.floor(Date.now() / MINUTE_MS) + offsetMinutes) % 1440) + 1440) % 1440;
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/** A harness with Gotify and an SMTP double, and a recipient reachable on both. */
async function withGotifyAndEmail(userId: string): Promise<SmtpDouble> {
  const smtp = await new SmtpDouble().start();
  h = await Harness.create({ env: { SMTP_URL: smtp.url(), MAIL_FROM: 'Herald <noreply@example.org>' } });
  h.onClose(() => smtp.close());
  await h.herald.recipients.set(userId, { gotify: { token: 'AmineOwn' }, email: 'bob@example.org' });
  return smtp;
}

async function put(app: FastifyInstance, url: string, payload: unknown) {
  return app.inject({ method: 'PUT', url, headers: auth, payload: payload as object });
}

const fieldsOf = (body: { error: { details: { field: string }[] } }) => body.error.details.map((d) => d.field).sort();

describe('preferences: stored, answered, validated', () => {
  it('PUT answers the preferences, the recipient shows them, a recipient PUT without them keeps them, with them replaces them', async () => {
    h = await Harness.create();
    const app = await h.app();
    const preferences = { muteCategories: ['file'], muteChannels: ['email'], quietHours: { timezone: 'Europe/Paris', start: '22:00', end: '07:00' } };
    const res = await put(app, '/v1/recipients/u-1/preferences', preferences);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual(preferences);
    // The user id is in the registry now, as a recipient PUT would put it.
    expect((await app.inject({ method: 'GET', url: '/v1/recipients/u-1', headers: auth })).json()).toEqual({ userId: 'u-1', preferences, webpush: [] });

    const addresses = await put(app, '/v1/recipients/u-1', { email: 'bob@example.org' });
    expect(addresses.json()).toEqual({ userId: 'u-1', email: 'bob@example.org', preferences, webpush: [] });
    const replaced = await put(app, '/v1/recipients/u-1', { gotify: { token: 'AbCdEfGhIj12345' }, preferences: { muteCategories: ['chat'] } });
    expect(replaced.json()).toEqual({ userId: 'u-1', gotify: { token: '****2345' }, preferences: { muteCategories: ['chat'] }, webpush: [] });
    expect(await h.herald.recipients.get('u-1')).toEqual(replaced.json());

    // `{}` clears them; empty lists are no preferences.
    expect((await put(app, '/v1/recipients/u-1/preferences', { muteCategories: [] })).json()).toEqual({});
    expect((await h.herald.recipients.get('u-1'))?.preferences).toBeUndefined();
    expect((await h.herald.recipients.get('u-1'))?.gotify).toEqual({ token: '****2345' });
  });

  it('refuses bad preferences with a 400 naming each bad field, and stores nothing', async () => {
    h = await Harness.create();
    const app = await h.app();
    await h.herald.recipients.setPreferences('u-2', { muteCategories: ['file'] });
    const cases: [unknown, string[]][] = [
      [{ quietHours: { timezone: 'Mars/Olympus_Mons', start: '22:00', end: '07:00' } }, ['quietHours.timezone']],
      [{ quietHours: { timezone: '+01:00', start: '22:00', end: '07:00' } }, ['quietHours.timezone']],
      [{ quietHours: { timezone: 'Europe/Paris', start: '22:00', end: '22:00' } }, ['quietHours.end']],
      [{ quietHours: { timezone: 'Europe/Paris', start: '24:00', end: '7:00' } }, ['quietHours.end', 'quietHours.start']],
      [{ quietHours: { timezone: 'Europe/Paris', start: '22:00' } }, ['quietHours.end']],
      [{ muteChannels: ['fax'], muteCategories: ['chat', 'chat'], snooze: true }, ['muteCategories', 'muteChannels.0', 'snooze']],
    ];
    for (const [body, fields] of cases) {
      const res = await put(app, '/v1/recipients/u-2/preferences', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.code).toBe('HERALD_ERR_VALIDATION');
      expect(fieldsOf(res.json()), JSON.stringify(body)).toEqual(fields);
    }
    const clock = await put(app, '/v1/recipients/u-2/preferences', { quietHours: { timezone: 'UTC', start: '9:00', end: '17:00' } });
    expect(clock.json().error.details).toEqual([{ field: 'quietHours.start', message: 'Expected a wall-clock time HH:MM from 00:00 to 23:59' }]);
    const zone = await put(app, '/v1/recipients/u-2/preferences', { quietHours: { timezone: 'Europe/Pariss', start: '22:00', end: '07:00' } });
    expect(zone.json().error.details[0].message).toMatch(/Unknown time zone "Europe\/Pariss".*IANA/);
    // Inside a recipient, the fields are named from the recipient's body.
    const inRecipient = await put(app, '/v1/recipients/u-2', { preferences: { quietHours: { timezone: 'Nowhere', start: '22:00', end: '07:00' } } });
    expect(fieldsOf(inRecipient.json())).toEqual(['preferences.quietHours.timezone']);
    // The SDK throws the same error.
    const thrown = await h.herald.recipients.setPreferences('u-2', { quietHours: { timezone: 'UTC', start: '01:00', end: '01:00' } }).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(HeraldError);
    expect((thrown as HeraldError).details).toEqual([{ field: 'quietHours.end', message: 'Must differ from start: the window would be empty' }]);
    expect((await h.herald.recipients.get('u-2'))?.preferences).toEqual({ muteCategories: ['file'] });
  });
});

describe('preferences: enforced at delivery time', () => {
  it('a change applies to what is still queued: a muted category ends skipped, a muted channel is left out even when the notification names it', async () => {
    const smtp = await withGotifyAndEmail('u-3');
    const app = await h.app();
    // Queued before the preferences change (scheduled a little later), delivered after it.
    const [chat, call, named] = await h.herald.notifyMany([
      { to: 'u-3', message: 'new message in #general', category: 'chat', delayMs: 300 },
      { to: 'u-3', message: 'incoming call', category: 'call', channels: ['gotify', 'email'], delayMs: 300 },
      { to: 'u-3', message: 'asks for gotify', channels: ['gotify'], delayMs: 300 },
    ]);
    await h.herald.recipients.setPreferences('u-3', { muteCategories: ['chat'], muteChannels: ['gotify'] });
    await h.startWorker();

    const ended = (r: BatchResult | undefined) => h.waitForStatus(r && 'id' in r ? r.id : '', (s) => ['delivered', 'skipped', 'failed'].includes(s.status));
    const [chatFinal, callFinal, namedFinal] = [await ended(chat), await ended(call), await ended(named)];
    expect(chatFinal.status).toBe('skipped');
    expect(chatFinal.attempts).toEqual([expect.objectContaining({ outcome: 'skipped', code: 'HERALD_MUTED' })]);
    expect(callFinal).toMatchObject({ status: 'delivered', channel: 'email' });
    expect(callFinal.attempts.map((a) => [a.channel, a.outcome, a.code ?? null])).toEqual([
      ['gotify', 'skipped', 'HERALD_CHANNEL_MUTED'],
      ['email', 'delivered', null],
    ]);
    // Every channel it names is muted: the recipient's choice, no dead letter.
    expect(namedFinal.status).toBe('skipped');
    expect(namedFinal.attempts).toEqual([expect.objectContaining({ outcome: 'skipped', code: 'HERALD_CHANNEL_MUTED' })]);
    expect(h.gotify.requests).toHaveLength(0);
    expect(smtp.accepted).toHaveLength(1);

    // Skips are counted by reason, in /v1/stats and in /metrics.
    const stats = await until(
      async () => (await app.inject({ method: 'GET', url: '/v1/stats?window=60', headers: admin })).json(),
      (s) => s.notifications.skipped === 2,
    );
    expect(stats.skips).toEqual({ HERALD_MUTED: 1, HERALD_CHANNEL_MUTED: 2 });
    const metrics = parsePrometheusText((await app.inject({ method: 'GET', url: '/metrics', headers: admin })).body);
    expect(sampleValue(metrics, 'herald_skips_total', { reason: 'HERALD_MUTED' })).toBe(1);
    expect(sampleValue(metrics, 'herald_skips_total', { reason: 'HERALD_CHANNEL_MUTED' })).toBe(2);
    expect(sampleValue(metrics, 'herald_notifications_ended_total', { status: 'skipped' })).toBe(2);

    // Unmuted, the next one goes through Gotify again.
    await h.herald.recipients.setPreferences('u-3', {});
    await h.waitForStatus((await h.herald.notify({ to: 'u-3', message: 'unmuted', category: 'chat' })).id, 'delivered');
    expect(h.gotify.requests).toHaveLength(1);
  });

  it('quiet hours hold a notification as scheduled until the window ends; priority 8 rings through; the ttl still applies', async () => {
    await withGotifyAndEmail('u-4');
    // A window in UTC that started an hour ago and ends two hours after the current minute.
    const endsAt = (Math.floor(Date.now() / MINUTE_MS) + 120) * MINUTE_MS;
    await h.herald.recipients.setPreferences('u-4', { quietHours: { timezone: 'UTC', start: utcClock(-60), end: utcClock(120) } });
    await h.startWorker();

    const call = await h.herald.notify({ to: 'u-4', message: 'incoming call', category: 'call', priority: 8 });
    const chat = await h.herald.notify({ to: 'u-4', message: 'new message', category: 'chat', priority: 6 });
    const shortLived = await h.herald.notify({ to: 'u-4', message: 'code 1234, valid 2 s', priority: 5, ttlSeconds: 2 });
    await h.waitForStatus(call.id, 'delivered');
    expect(h.gotify.requests.map((r) => JSON.parse(r.body.toString()).message)).toEqual(['incoming call']);

    // The chat message waits, scheduled, in a job due at the window's end.
    const redis = new Redis(h.redisUrl);
    const queue = new Queue('deliver-gotify', { connection: redis, prefix: h.prefix });
    h.onClose(async () => {
      await queue.close();
      redis.disconnect();
    });
    const held = await h.waitForStatus(chat.id, (s) => s.status === 'scheduled');
    expect(held.attempts).toEqual([]);
    const delayed = await until(
      () => queue.getDelayed(),
      (jobs) => jobs.some((job) => job.data.items.some((item: { id: string }) => item.id === chat.id)),
    );
    const job = delayed.find((j) => j.data.items.some((item: { id: string }) => item.id === chat.id))!;
    expect(Math.abs(job.timestamp + job.delay - endsAt)).toBeLessThan(2000);

    // Held past its ttl: it ends expired at the expiry, never sent.
    const expired: Status = await h.waitForStatus(shortLived.id, 'expired');
    expect(Date.parse(expired.updatedAt)).toBeGreaterThanOrEqual(Date.parse(expired.createdAt) + 2000);
    expect(h.gotify.requests).toHaveLength(1);
    expect((await h.herald.status(chat.id))?.status).toBe('scheduled');
  });
});
