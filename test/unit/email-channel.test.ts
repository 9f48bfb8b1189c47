import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EmailChannel, type EmailOptions } from '../../src/channels/email/channel.js';
import { DeliveryError, type OutgoingMessage } from '../../src/channels/types.js';
import { decodedHeader, findPart, parseMime } from '../helpers/mime.js';
import { closedPort, REJECTED_550, SmtpDouble, TEMPORARY_451, type SmtpDoubleOptions } from '../helpers/smtp-double.js';

const USER = 'herald@example.org';
// Characters that must be percent-encoded in a URL, to prove the password survives the round trip.
const PASS = 's3cret:p@ss/word';
const FROM = 'Herald <noreply@example.org>';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function double(options: SmtpDoubleOptions = {}): Promise<SmtpDouble> {
  const smtp = await new SmtpDouble(options).start();
  closers.push(() => smtp.close());
  return smtp;
}

function channel(url: string, extra: Partial<EmailOptions> = {}): EmailChannel {
  const email = new EmailChannel({ settings: { url, from: FROM }, timeoutMs: 2000, connections: 4, ...extra });
  closers.push(() => email.close());
  return email;
}

function message(overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return { id: 'n-1', message: 'Hello', priority: 5, expiresAt: Date.now() + 60_000, ...overrides } as OutgoingMessage;
}

/** The DeliveryError a send failed with (fails the test if it succeeded). */
async function failure(promise: Promise<unknown>): Promise<DeliveryError> {
  const outcome = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome).toBeInstanceOf(DeliveryError);
  return outcome as DeliveryError;
}

describe('EmailChannel against a real SMTP server', () => {
  it('sends From, To, Subject, a text part and an escaped HTML part with the link, and says 250', async () => {
    const smtp = await double();
    const email = channel(smtp.url());
    const receipt = await email.send(
      message({
        id: 'n-content',
        title: 'Build <failed>',
        message: 'Line 1 & <b>2</b>\nLine "3"',
        url: 'https://ci.example.org/b/1?x=1&y=2',
        category: 'ci',
        priority: 9,
      }),
      { address: 'bob@example.net' },
      {},
    );
    expect(receipt.statusCode).toBe(250);

    const [sent] = smtp.accepted;
    expect(sent).toMatchObject({ from: 'noreply@example.org', to: ['bob@example.net'] });
    const mail = parseMime(sent!.raw!);
    expect(decodedHeader(mail, 'from')).toBe('Herald <noreply@example.org>');
    expect(decodedHeader(mail, 'to')).toBe('bob@example.net');
    expect(decodedHeader(mail, 'subject')).toBe('Build <failed>');
    expect(mail.headers.get('x-herald-notification-id')).toBe('n-content');
    expect(mail.headers.get('x-herald-category')).toBe('ci');
    expect(mail.headers.get('auto-submitted')).toBe('auto-generated');
    expect(mail.headers.get('importance')).toBe('High');
    expect(mail.headers.get('message-id')).toMatch(/^<[0-9a-f]{32}@herald\.example\.org>$/);
    expect(mail.contentType).toBe('multipart/alternative');

    expect(findPart(mail, 'text/plain')?.body).toBe('Line 1 & <b>2</b>\nLine "3"\n\nhttps://ci.example.org/b/1?x=1&y=2\n');
    const html = findPart(mail, 'text/html')?.body ?? '';
    expect(html).toContain('<p>Line 1 &amp; &lt;b&gt;2&lt;/b&gt;<br>\nLine &quot;3&quot;</p>');
    expect(html).toContain('<a href="https://ci.example.org/b/1?x=1&amp;y=2">https://ci.example.org/b/1?x=1&amp;y=2</a>');
    expect(html).not.toContain('<b>');
  });

  it('keeps the Message-ID of a notification across sends, and gives another notification another one', async () => {
    const smtp = await double();
    const email = channel(smtp.url());
    await email.send(message({ id: 'n-same' }), { address: 'a@example.net' }, {});
    await email.send(message({ id: 'n-same' }), { address: 'a@example.net' }, {});
    await email.send(message({ id: 'n-other' }), { address: 'a@example.net' }, {});
    const ids = smtp.accepted.map((t) => parseMime(t.raw!).headers.get('message-id'));
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).not.toBe(ids[0]);
    // A fresh channel (another worker, after a crash) computes the same id.
    const other = channel(smtp.url());
    await other.send(message({ id: 'n-same' }), { address: 'a@example.net' }, {});
    expect(parseMime(smtp.accepted[3]!.raw!).headers.get('message-id')).toBe(ids[0]);
  });

  it('reuses pooled connections for messages sent one after another', async () => {
    const smtp = await double();
    const email = channel(smtp.url());
    for (let i = 0; i < 3; i++) await email.send(message({ id: `n-${i}` }), { address: 'a@example.net' }, {});
    expect(new Set(smtp.transactions.map((t) => t.sessionId)).size).toBe(1);
  });

  it('upgrades smtp:// with STARTTLS when offered, then logs in', async () => {
    const smtp = await double({ tls: 'starttls', auth: { user: USER, pass: PASS } });
    const email = channel(smtp.url(), { tls: { ca: smtp.certificate } });
    await email.send(message(), { address: 'a@example.net' }, {});
    expect(smtp.accepted).toHaveLength(1);
    expect(smtp.accepted[0]).toMatchObject({ secure: true, user: USER });
    expect(smtp.authAttempts).toEqual([{ user: USER, secure: true }]);
  });

  it('speaks TLS from the first byte for smtps://', async () => {
    const smtp = await double({ tls: 'implicit', auth: { user: USER, pass: PASS } });
    expect(smtp.url()).toMatch(/^smtps:/);
    const email = channel(smtp.url(), { tls: { ca: smtp.certificate } });
    await email.send(message(), { address: 'a@example.net' }, {});
    expect(smtp.accepted[0]).toMatchObject({ secure: true, user: USER });
  });

  it('refuses a certificate it cannot verify (transient: an operator can fix it while retries run)', async () => {
    const smtp = await double({ tls: 'implicit' });
    const error = await failure(channel(smtp.url()).send(message(), { address: 'a@example.net' }, {}));
    expect(error.kind).toBe('transient');
    expect(error.code).toMatch(/^HERALD_NET_/);
    expect(smtp.transactions).toHaveLength(0);
  });

  it('never sends credentials in clear text: without STARTTLS the send fails before AUTH, as HERALD_SMTP_TLS_REQUIRED', async () => {
    // The double accepts AUTH in clear text (as a careless server would); only Herald can refuse.
    const smtp = await double({ tls: 'none', auth: { user: USER, pass: PASS } });
    const error = await failure(channel(smtp.url()).send(message(), { address: 'a@example.net' }, {}));
    expect(error).toMatchObject({ kind: 'permanent', code: 'HERALD_SMTP_TLS_REQUIRED', statusCode: 500 });
    expect(error.message).toBe('HERALD_SMTP_TLS_REQUIRED: smtp server did not start TLS, which the connection requires (500, STARTTLS)');
    expect(smtp.authAttempts).toEqual([]);
    expect(smtp.transactions).toHaveLength(0);
  });

  it('sends without TLS to a server without STARTTLS when the URL has no credentials', async () => {
    const smtp = await double({ tls: 'none' });
    await channel(smtp.url()).send(message(), { address: 'a@example.net' }, {});
    expect(smtp.accepted[0]).toMatchObject({ secure: false });
  });

  it('refuses a URL whose query would let its credentials go out in clear text', () => {
    for (const query of ['requireTLS=false', 'ignoreTLS=true', 'opportunisticTLS=true']) {
      expect(() => channel(`smtp://${USER}:secret@127.0.0.1:1?${query}`)).toThrow(`remove ${query.split('=')[0]} from its query`);
    }
    expect(() => channel(`smtp://${USER}:secret@127.0.0.1:1?requireTLS=true`)).not.toThrow();
    expect(() => channel('smtp://127.0.0.1:1?ignoreTLS=true')).not.toThrow();
  });

  it('classifies a wrong password as a permanent auth failure and never repeats the password', async () => {
    const smtp = await double({ tls: 'starttls', auth: { user: USER, pass: PASS } });
    const email = channel(smtp.url({ user: USER, pass: 'wrong-Pa55word' }), { tls: { ca: smtp.certificate } });
    const error = await failure(email.send(message(), { address: 'a@example.net' }, {}));
    expect(error).toMatchObject({ kind: 'permanent', code: 'HERALD_SMTP_AUTH', statusCode: 535 });
    expect(smtp.authFailures).toEqual([USER]);
    expect(smtp.transactions).toHaveLength(0);
    const everything = JSON.stringify({ message: error.message, stack: error.stack, cause: String(error.cause) });
    expect(everything).not.toContain('wrong-Pa55word');
    expect(everything).not.toContain(Buffer.from('wrong-Pa55word').toString('base64'));
  });

  it('classifies 451 as transient and 550 for the recipient as permanent, with the reply code', async () => {
    const smtp = await double();
    smtp.answer(TEMPORARY_451, { code: 451, stage: 'data', text: '4.3.0 Try later' }, REJECTED_550, {
      code: 554,
      stage: 'data',
      text: '5.7.1 Rejected as spam',
    });
    const email = channel(smtp.url());
    const send = () => failure(email.send(message(), { address: 'a@example.net' }, {}));

    expect(await send()).toMatchObject({ kind: 'transient', code: 'HERALD_SMTP_451', statusCode: 451 });
    expect(await send()).toMatchObject({ kind: 'transient', code: 'HERALD_SMTP_451', statusCode: 451 });
    const rejected = await send();
    expect(rejected).toMatchObject({ kind: 'permanent', code: 'HERALD_SMTP_550', statusCode: 550 });
    expect(rejected.message).toBe('HERALD_SMTP_550: smtp server rejected the recipient (550 5.1.1, RCPT TO)');
    expect(await send()).toMatchObject({ kind: 'permanent', code: 'HERALD_SMTP_554', statusCode: 554 });
    // After all those refusals the pooled connection still delivers.
    await email.send(message(), { address: 'a@example.net' }, {});
    expect(smtp.accepted).toHaveLength(1);
  });

  it('classifies a refused connection as transient HERALD_NET_ECONNREFUSED', async () => {
    const port = await closedPort();
    const error = await failure(channel(`smtp://127.0.0.1:${port}`).send(message(), { address: 'a@example.net' }, {}));
    expect(error).toMatchObject({ kind: 'transient', code: 'HERALD_NET_ECONNREFUSED' });
    expect(error.statusCode).toBeUndefined();
  });

  it('gives up on a server that never greets after the greeting timeout, as transient', async () => {
    const silent = await silentServer();
    const started = Date.now();
    const error = await failure(channel(`smtp://127.0.0.1:${silent.port}`, { timeoutMs: 300 }).send(message(), { address: 'a@example.net' }, {}));
    expect(error).toMatchObject({ kind: 'transient', code: 'HERALD_NET_ETIMEDOUT' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('cuts a send that a trickling server keeps alive at twice the step deadline, as HERALD_TIMEOUT', async () => {
    // Greets, then answers EHLO one byte every 50 ms: no socket timeout ever fires.
    const trickle = await rawServer((socket) => {
      socket.write('220 slow.example ESMTP\r\n');
      socket.once('data', () => {
        const timer = setInterval(() => socket.write('2'), 50);
        socket.on('close', () => clearInterval(timer));
      });
    });
    const started = Date.now();
    const error = await failure(channel(`smtp://127.0.0.1:${trickle.port}`, { timeoutMs: 300 }).send(message(), { address: 'a@example.net' }, {}));
    expect(error).toMatchObject({ kind: 'transient', code: 'HERALD_TIMEOUT' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('stops at once when the caller aborts (shutdown), as transient HERALD_TIMEOUT', async () => {
    const silent = await silentServer();
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 100);
    const error = await failure(
      channel(`smtp://127.0.0.1:${silent.port}`, { timeoutMs: 10_000 }).send(message(), { address: 'a@example.net' }, { signal: controller.signal }),
    );
    expect(error).toMatchObject({ kind: 'transient', code: 'HERALD_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

/** A TCP server that accepts connections and never says a word. */
function silentServer(): Promise<{ port: number }> {
  return rawServer(() => {});
}

/** A TCP server that hands each connection to `onSocket`; its sockets are destroyed on close. */
async function rawServer(onSocket: (socket: Socket) => void): Promise<{ port: number }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0 };
}
