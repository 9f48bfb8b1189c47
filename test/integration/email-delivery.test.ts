import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from '../helpers/harness.js';
import { decodedHeader, findPart, parseMime } from '../helpers/mime.js';
import { closedPort, REJECTED_550, SmtpDouble, type SmtpDoubleOptions } from '../helpers/smtp-double.js';

const USER = 'mailer';
const PASS = 'Corr3ct horse:battery@staple';
const FROM = 'Herald <noreply@example.org>';

let h: Harness;
afterEach(async () => h?.close());

/** A harness whose only provider is an SMTP double, with SMTP_URL and MAIL_FROM pointing at it. */
async function emailHarness(options: SmtpDoubleOptions & { smtpUrl?: (smtp: SmtpDouble) => string; env?: Record<string, string> } = {}): Promise<SmtpDouble> {
  const smtp = await new SmtpDouble(options).start();
  h = await Harness.create({ noGotify: true, env: { SMTP_URL: options.smtpUrl?.(smtp) ?? smtp.url(), MAIL_FROM: FROM, ...options.env } });
  h.onClose(() => smtp.close());
  await h.startWorker(['email']);
  return smtp;
}

describe('delivery through email', () => {
  it('mails a registered recipient: From, To, Subject, text and escaped HTML with the link', async () => {
    const smtp = await emailHarness({ tls: 'starttls', auth: { user: USER, pass: PASS }, smtpUrl: (s) => `${s.url()}?tls.rejectUnauthorized=false` });
    await h.herald.recipients.set('u-7', { email: 'alice@example.net' });
    const { id } = await h.herald.notify({
      to: 'u-7',
      title: 'Grüße from <CI>',
      message: 'Deploy of "api" done.\nAll 3 checks <passed> & green.\n\nSee the log.',
      url: 'https://ci.example.org/runs/42?tab=log&full=1',
      category: 'ci',
      channels: ['email'],
    });

    const final = await h.waitForStatus(id, 'delivered');
    expect(final.channel).toBe('email');
    expect(final.attempts).toEqual([expect.objectContaining({ channel: 'email', outcome: 'delivered', statusCode: 250 })]);

    expect(smtp.accepted).toHaveLength(1);
    const sent = smtp.accepted[0]!;
    expect(sent).toMatchObject({ from: 'noreply@example.org', to: ['alice@example.net'], user: USER });
    const mail = parseMime(sent.raw!);
    expect(decodedHeader(mail, 'from')).toBe(FROM);
    expect(decodedHeader(mail, 'to')).toBe('alice@example.net');
    expect(decodedHeader(mail, 'subject')).toBe('Grüße from <CI>');
    expect(mail.headers.get('x-herald-notification-id')).toBe(id);
    expect(mail.headers.get('message-id')).toMatch(/^<[0-9a-f]{32}@herald\.example\.org>$/);

    expect(findPart(mail, 'text/plain')?.body).toBe(
      'Deploy of "api" done.\nAll 3 checks <passed> & green.\n\nSee the log.\n\nhttps://ci.example.org/runs/42?tab=log&full=1\n',
    );
    const html = findPart(mail, 'text/html')?.body ?? '';
    expect(html).toContain('<title>Grüße from &lt;CI&gt;</title>');
    expect(html).toContain('<p>Deploy of &quot;api&quot; done.<br>\nAll 3 checks &lt;passed&gt; &amp; green.</p>\n<p>See the log.</p>');
    expect(html).toContain('<a href="https://ci.example.org/runs/42?tab=log&amp;full=1">https://ci.example.org/runs/42?tab=log&amp;full=1</a>');
    expect(html).not.toMatch(/<passed>/);
  });

  it('falls back to the first line for the subject and shows an app-scheme link as text only', async () => {
    const smtp = await emailHarness();
    const { id } = await h.herald.notify({
      targets: { email: 'bob@example.net' },
      message: '  New message in #general\nfrom carol',
      url: 'mesh://room/1',
      channels: ['email'],
    });
    await h.waitForStatus(id, 'delivered');
    const mail = parseMime(smtp.accepted[0]!.raw!);
    expect(decodedHeader(mail, 'subject')).toBe('New message in #general');
    const html = findPart(mail, 'text/html')?.body ?? '';
    expect(html).toContain('<p>mesh://room/1</p>');
    expect(html).not.toContain('<a ');
  });

  it('retries a 451 on the same channel and resends with the same Message-ID', async () => {
    const smtp = await emailHarness();
    // Rejected after the whole message went over the wire: the server saw it twice.
    smtp.answer({ code: 451, stage: 'data', text: '4.3.0 Mailbox temporarily unavailable' });
    const { id } = await h.herald.notify({ targets: { email: 'bob@example.net' }, title: 'Retry me', message: 'body', channels: ['email'] });

    const final = await h.waitForStatus(id, 'delivered');
    expect(final.attempts.map((a) => [a.outcome, a.statusCode ?? null, a.code ?? null])).toEqual([
      ['transient', 451, 'HERALD_SMTP_451'],
      ['delivered', 250, null],
    ]);
    expect(smtp.transactions).toHaveLength(2);
    const [first, second] = smtp.transactions.map((t) => parseMime(t.raw!).headers.get('message-id'));
    expect(first).toMatch(/^<.+@herald\.example\.org>$/);
    expect(second).toBe(first);
  });

  it('dead-letters a notification whose only channel, email, answers 550, without retrying', async () => {
    const smtp = await emailHarness({ env: { HERALD_MAX_ATTEMPTS: '3' } });
    smtp.fallback = REJECTED_550;
    await h.herald.recipients.set('u-gone', { email: 'nobody@example.net' });
    const { id } = await h.herald.notify({ to: 'u-gone', message: 'you do not exist', channels: ['email'] });

    const final = await h.waitForStatus(id, 'failed');
    expect(final.attempts).toEqual([
      expect.objectContaining({
        channel: 'email',
        outcome: 'permanent',
        statusCode: 550,
        code: 'HERALD_SMTP_550',
        error: 'HERALD_SMTP_550: smtp server rejected the recipient (550 5.1.1, RCPT TO)',
      }),
    ]);
    expect(smtp.transactions).toHaveLength(1);
    expect(smtp.transactions[0]!.to).toEqual(['nobody@example.net']);
    const letter = await h.herald.deadLetters.get(id);
    expect(letter?.attempts).toHaveLength(1);
  });

  it('fails for good on a wrong SMTP password, and the password appears in no status and no log line', async () => {
    const wrong = 'Wr0ng-but-secret';
    const smtp = await emailHarness({
      tls: 'starttls',
      auth: { user: USER, pass: PASS },
      smtpUrl: (s) => `${s.url({ user: USER, pass: wrong })}?tls.rejectUnauthorized=false`,
    });
    const { id } = await h.herald.notify({ targets: { email: 'bob@example.net' }, message: 'locked out', channels: ['email'] });

    const final = await h.waitForStatus(id, 'failed');
    expect(final.attempts).toEqual([expect.objectContaining({ outcome: 'permanent', statusCode: 535, code: 'HERALD_SMTP_AUTH' })]);
    expect(smtp.authFailures).toEqual([USER]);
    expect(smtp.transactions).toHaveLength(0);
    const seen = JSON.stringify(final) + JSON.stringify(await h.herald.deadLetters.get(id)) + h.logs.raw.join('\n');
    expect(seen).not.toContain(wrong);
    expect(seen).not.toContain(encodeURIComponent(wrong));
  });

  it('with credentials in SMTP_URL and a server that offers no STARTTLS: fails for good before AUTH, and says why', async () => {
    const smtp = await emailHarness({ tls: 'none', auth: { user: USER, pass: PASS } });
    const { id } = await h.herald.notify({ targets: { email: 'bob@example.net' }, message: 'not in clear text', channels: ['email'] });

    const final = await h.waitForStatus(id, 'failed');
    expect(final.attempts).toEqual([
      expect.objectContaining({
        channel: 'email',
        outcome: 'permanent',
        statusCode: 500,
        code: 'HERALD_SMTP_TLS_REQUIRED',
        error: 'HERALD_SMTP_TLS_REQUIRED: smtp server did not start TLS, which the connection requires (500, STARTTLS)',
      }),
    ]);
    expect(smtp.authAttempts).toEqual([]);
    expect(smtp.transactions).toHaveLength(0);
    const seen = JSON.stringify(final) + h.logs.raw.join('\n');
    expect(seen).not.toContain(PASS);
    expect(seen).not.toContain(encodeURIComponent(PASS));
  });

  it('retries a refused connection as transient past HERALD_MAX_ATTEMPTS when email is the only channel, until the ttl: expired, not dead-lettered', async () => {
    const port = await closedPort();
    await emailHarness({ smtpUrl: () => `smtp://127.0.0.1:${port}`, env: { HERALD_MAX_ATTEMPTS: '3' } });
    const { id } = await h.herald.notify({ targets: { email: 'bob@example.net' }, message: 'nobody listens', channels: ['email'], ttlSeconds: 1 });

    const final = await h.waitForStatus(id, 'expired');
    expect(final.attempts.length).toBeGreaterThan(3);
    expect(new Set(final.attempts.map((a) => `${a.outcome} ${a.code}`))).toEqual(new Set(['transient HERALD_NET_ECONNREFUSED']));
    expect(final.attempts.every((a) => a.statusCode === undefined)).toBe(true);
    expect(await h.herald.deadLetters.count()).toBe(0);
  });

  it('delivers over smtps:// with a percent-encoded password taken from SMTP_URL', async () => {
    // The double's certificate is self-signed; nodemailer's URL options switch verification off
    // for this test only (verification itself is covered in test/unit/email-channel.test.ts).
    const smtp = await emailHarness({ tls: 'implicit', auth: { user: USER, pass: PASS }, smtpUrl: (s) => `${s.url()}?tls.rejectUnauthorized=false` });
    const { id } = await h.herald.notify({ targets: { email: 'bob@example.net' }, message: 'over TLS', channels: ['email'] });
    await h.waitForStatus(id, 'delivered');
    expect(smtp.accepted[0]).toMatchObject({ secure: true, user: USER });
  });

  it('upgrades smtp:// with STARTTLS when the server offers it', async () => {
    const smtp = await emailHarness({ tls: 'starttls', auth: { user: USER, pass: PASS }, smtpUrl: (s) => `${s.url()}?tls.rejectUnauthorized=false` });
    expect(smtp.url()).toMatch(/^smtp:/);
    const { id } = await h.herald.notify({ targets: { email: 'bob@example.net' }, message: 'upgraded', channels: ['email'] });
    await h.waitForStatus(id, 'delivered');
    expect(smtp.accepted[0]).toMatchObject({ secure: true, user: USER });
  });
});
