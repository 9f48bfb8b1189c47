import { afterEach, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Harness } from '../helpers/harness.js';
import { killIfRunning, spawnWorker } from '../helpers/processes.js';
import { PushService, vapidEnv, type TestBrowser } from '../helpers/push-service.js';
import { REJECTED_550, SmtpDouble } from '../helpers/smtp-double.js';

let h: Harness;
let child: ChildProcess | undefined;
afterEach(async () => {
  await killIfRunning(child);
  child = undefined;
  await h?.close();
});

interface Chain {
  push: PushService;
  smtp: SmtpDouble;
  browser: TestBrowser;
}

/** Every channel on: the Gotify double, a push-service double and an SMTP double; user u-1 has an address on each. */
async function chain(env: Record<string, string> = {}): Promise<Chain> {
  const vapid = vapidEnv();
  const smtp = await new SmtpDouble().start();
  h = await Harness.create({ env: { ...vapid, SMTP_URL: smtp.url(), MAIL_FROM: 'Herald <noreply@example.org>', ...env } });
  const push = await new PushService(vapid.VAPID_PUBLIC_KEY!).start();
  h.onClose(async () => {
    await push.close();
    await smtp.close();
  });
  const browser = push.browser();
  await h.herald.recipients.set('u-1', { gotify: { token: 'Auser' }, email: 'u1@example.org' });
  await h.herald.recipients.addWebPush('u-1', browser.subscription);
  return { push, smtp, browser };
}

const outcomes = (attempts: { channel: string; outcome: string; statusCode?: number }[]) =>
  attempts.map((a) => `${a.channel}:${a.outcome}:${a.statusCode ?? ''}`);

describe('the fallback chain', () => {
  it('goes Gotify (401) → Web Push (410, subscription removed) → email, each at once', async () => {
    const { push, smtp, browser } = await chain();
    h.gotify.fallback = { status: 401 };
    push.always(browser, { status: 410 });
    await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u-1', title: 'Fallback', message: 'down the chain' });
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.channel).toBe('email');
    expect(outcomes(final.attempts)).toEqual(['gotify:permanent:401', 'webpush:gone:410', 'email:delivered:250']);
    expect(h.gotify.requests).toHaveLength(1);
    expect(push.for(browser)).toHaveLength(1);
    expect(smtp.accepted.map((t) => t.to)).toEqual([['u1@example.org']]);
    expect((await h.herald.recipients.get('u-1'))?.webpush).toEqual([]);
  });

  it('comes back to a channel that failed only transiently once the rest of the chain refused: an outage costs a delay, not a dead letter', async () => {
    const { push, smtp, browser } = await chain({ HERALD_MAX_ATTEMPTS: '2' });
    // Gotify is down for its two tries, then back; the other channels refuse for good.
    h.gotify.answer({ status: 503 }, { status: 503 });
    push.always(browser, { status: 400 });
    smtp.answer(REJECTED_550);
    await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u-1', message: 'worth the wait' });
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.channel).toBe('gotify');
    expect(outcomes(final.attempts)).toEqual([
      'gotify:transient:503',
      'gotify:transient:503',
      'webpush:permanent:400',
      'email:permanent:550',
      'gotify:delivered:200',
    ]);
    expect(await h.herald.deadLetters.count()).toBe(0);
  });

  it('dead-letters once, with every attempt, when every channel refuses for good; a replay delivers after recovery', async () => {
    const { push, smtp, browser } = await chain({ HERALD_MAX_ATTEMPTS: '2' });
    // Gotify is down for its two tries, and refuses for good when the chain comes back to it.
    h.gotify.answer({ status: 503 }, { status: 503 });
    h.gotify.fallback = { status: 401 };
    push.always(browser, { status: 400 });
    smtp.answer(REJECTED_550);
    await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u-1', message: 'nobody takes it' });
    const final = await h.waitForStatus(id, 'failed');
    expect(outcomes(final.attempts)).toEqual([
      'gotify:transient:503',
      'gotify:transient:503',
      'webpush:permanent:400',
      'email:permanent:550',
      'gotify:permanent:401',
    ]);
    const page = await h.herald.deadLetters.list();
    expect(page.items.map((l) => [l.id, l.attempts.length, l.replays])).toEqual([[id, 5, 0]]);

    h.gotify.fallback = { status: 200 };
    await h.herald.deadLetters.replay(id);
    const replayed = await h.waitForStatus(id, 'delivered');
    expect(replayed.channel).toBe('gotify');
    expect(replayed.attempts).toHaveLength(6);
    expect(await h.herald.deadLetters.count()).toBe(0);
  });

  it('survives a worker killed between channels: the next worker continues where the chain was', async () => {
    const { push, smtp, browser } = await chain({ HERALD_JOB_LOCK_MS: '1500' });
    h.gotify.fallback = { status: 401 };
    // The push service holds the first request: the worker dies while Web Push is in flight.
    push.answer(browser, { status: 201, delayMs: 60_000 });
    push.always(browser, { status: 410 });
    child = spawnWorker(h.env);
    const { id } = await h.herald.notify({ to: 'u-1', message: 'mid-chain crash' });
    await push.waitForRequests(1, 15_000);
    child.kill('SIGKILL');
    await once(child, 'exit');

    await h.startWorker();
    const final = await h.waitForStatus(id, 'delivered', 20_000);
    // Gotify was tried once: the hand-off to Web Push had committed before the kill.
    expect(outcomes(final.attempts)).toEqual(['gotify:permanent:401', 'webpush:gone:410', 'email:delivered:250']);
    expect(h.gotify.requests).toHaveLength(1);
    expect(push.for(browser)).toHaveLength(2);
    expect(smtp.accepted).toHaveLength(1);
  });
});
