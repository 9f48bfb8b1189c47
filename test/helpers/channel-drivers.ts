/**
 * One driver per channel for the channel contract test (test/integration/channel-contract.test.ts):
 * each starts its provider's double — a real server that checks the wire format of every request —
 * registers a recipient with an address on the channel, and scripts the double's next answer from
 * a small vocabulary every channel shares (a provider error, a refusal, a dropped connection, …),
 * translated into what that provider would really answer. So the same scenarios run against every
 * channel, and each channel is held to the same classes of outcome.
 *
 * The doubles answer failures with the channel's secrets in their bodies and reply texts, as a
 * careless provider might: a channel must never copy them into an attempt or a log line.
 */
import { randomBytes } from 'node:crypto';
import type { Herald } from '../../src/sdk/herald.js';
import type { ChannelName, InboxItem } from '../../src/types.js';
import { HttpDouble, type ReceivedRequest, type ScriptedAnswer } from './http-double.js';
import { decodedHeader, findPart, parseMime } from './mime.js';
import { ntfyDouble } from './ntfy-double.js';
import { PushService, vapidEnv, type PushAnswer, type TestBrowser } from './push-service.js';
import { SmtpDouble, type SmtpReply } from './smtp-double.js';
import { webhookReceiver } from './webhook-receiver.js';

/** What a provider does with the next request, in words every channel understands. */
export type Answer = 'accept' | 'serverError' | 'networkError' | 'timeout' | 'rateLimited' | 'refused' | 'gone';
export type Failure = Exclude<Answer, 'accept'>;

export interface ChannelDriver {
  readonly channel: ChannelName;
  /** Starts the provider's double; answers the settings that point Herald at it. */
  start(): Promise<Record<string, string>>;
  /** Registers `userId` with an address on this channel. */
  register(herald: Herald, userId: string): Promise<void>;
  /** Whether `userId` still has its address on this channel. */
  hasAddress(herald: Herald, userId: string): Promise<boolean>;
  /** The provider's answer to the next request. */
  script(answer: Answer): void;
  /** Reads what the provider holds, for a provider that is not a server of the test's (the inbox is Redis). */
  settle?(herald: Herald, userId: string): Promise<void>;
  /** When each request reached the provider, in order. */
  arrivals(): number[];
  /** What is wrong with the requests the provider received, by its wire format; empty when all were right. */
  wireProblems(): string[];
  /** The title and message the recipient was shown by the last request. */
  shown(): { title?: unknown; message?: unknown };
  /** What must never appear in a status, a dead letter or a log line. */
  secrets(): string[];
  close(): Promise<void>;
}

const RETRY_AFTER_SECONDS = '1';

/**
 * The failures each channel's provider can give, with the attempt code each is recorded with. A
 * failure left out does not exist for that provider: SMTP has no Retry-After (a 4xx is its
 * provider error, a 5xx its refusal), and only Web Push and webhooks have a `gone`.
 */
export const FAILURE_CODES: Record<ChannelName, Partial<Record<Failure, RegExp>>> = {
  gotify: {
    serverError: /^HERALD_GOTIFY_HTTP_503$/,
    networkError: /^HERALD_NET_[A-Z_]+$/,
    timeout: /^HERALD_TIMEOUT$/,
    rateLimited: /^HERALD_GOTIFY_HTTP_429$/,
    refused: /^HERALD_GOTIFY_HTTP_401$/,
  },
  webpush: {
    serverError: /^HERALD_WEBPUSH_HTTP_500$/,
    networkError: /^HERALD_NET_[A-Z_]+$/,
    timeout: /^HERALD_TIMEOUT$/,
    rateLimited: /^HERALD_WEBPUSH_HTTP_429$/,
    refused: /^HERALD_WEBPUSH_HTTP_403$/,
    gone: /^HERALD_WEBPUSH_HTTP_410$/,
  },
  email: {
    serverError: /^HERALD_SMTP_451$/,
    networkError: /^HERALD_NET_[A-Z_]+$/,
    timeout: /^HERALD_(TIMEOUT|NET_ETIMEDOUT)$/,
    refused: /^HERALD_SMTP_550$/,
  },
  ntfy: {
    serverError: /^HERALD_NTFY_HTTP_502$/,
    networkError: /^HERALD_NET_[A-Z_]+$/,
    timeout: /^HERALD_TIMEOUT$/,
    rateLimited: /^HERALD_NTFY_HTTP_429$/,
    refused: /^HERALD_NTFY_HTTP_403$/,
  },
  // The inbox's provider is Redis itself: no provider answer to script (a Redis failure is HERALD_INBOX_UNAVAILABLE).
  inbox: {},
  webhook: {
    serverError: /^HERALD_WEBHOOK_HTTP_500$/,
    networkError: /^HERALD_NET_[A-Z_]+$/,
    timeout: /^HERALD_TIMEOUT$/,
    rateLimited: /^HERALD_WEBHOOK_HTTP_429$/,
    refused: /^HERALD_WEBHOOK_HTTP_403$/,
    gone: /^HERALD_WEBHOOK_HTTP_410$/,
  },
};

/** The shared answers of an HTTP provider; `status` the codes that provider uses for each failure. */
function httpAnswer(answer: Answer, status: Partial<Record<Failure, number>>, echoed: string): ScriptedAnswer {
  switch (answer) {
    case 'accept':
      return {};
    case 'networkError':
      return { reset: true };
    case 'timeout':
      return { hang: true };
    case 'rateLimited':
      return { status: 429, headers: { 'retry-after': RETRY_AFTER_SECONDS }, body: `{"error":"slow down, ${echoed}"}` };
    default:
      return { status: status[answer] ?? 500, body: `{"error":"refused the request of ${echoed}"}` };
  }
}

/** A driver over an HttpDouble, for the providers Herald reaches with one JSON POST. */
abstract class HttpDriver implements ChannelDriver {
  abstract readonly channel: ChannelName;
  protected abstract readonly double: HttpDouble;
  /** The status the provider answers each failure with. */
  protected abstract readonly statuses: Partial<Record<Failure, number>>;
  abstract start(): Promise<Record<string, string>>;
  abstract register(herald: Herald, userId: string): Promise<void>;
  abstract hasAddress(herald: Herald, userId: string): Promise<boolean>;
  abstract secrets(): string[];

  script(answer: Answer): void {
    if (answer !== 'accept') this.double.answer(httpAnswer(answer, this.statuses, this.secrets()[0]!));
  }

  arrivals(): number[] {
    return this.double.requests.map((r) => r.at);
  }

  wireProblems(): string[] {
    return this.double.requests.flatMap((r) => r.problems);
  }

  shown(): { title?: unknown; message?: unknown } {
    const last = this.double.requests.at(-1);
    if (!last) return {};
    const { title, message } = JSON.parse(last.body.toString('utf8')) as Record<string, unknown>;
    return { title, message };
  }

  close(): Promise<void> {
    return this.double.close();
  }
}

/** Gotify's message API: POST /message, the token in X-Gotify-Key, a JSON body with extras. */
function gotifyProblems(request: ReceivedRequest, token: string): string[] {
  const problems: string[] = [];
  if (request.method !== 'POST' || request.path !== '/message') problems.push(`${request.method} ${request.path}, expected POST /message`);
  if (request.headers['x-gotify-key'] !== token) problems.push('X-Gotify-Key is not the recipient token');
  const body = JSON.parse(request.body.toString('utf8')) as Record<string, unknown>;
  if (typeof body.message !== 'string') problems.push('message is not a string');
  if (!Number.isInteger(body.priority)) problems.push('priority is not an integer');
  if (typeof body.extras !== 'object' || body.extras === null) problems.push('extras is not an object');
  return problems;
}

class GotifyDriver extends HttpDriver {
  readonly channel = 'gotify';
  protected readonly statuses = { serverError: 503, refused: 401 };
  private readonly token = `A${randomBytes(12).toString('hex')}`;
  protected readonly double = new HttpDouble(undefined, (request) => gotifyProblems(request, this.token));

  async start(): Promise<Record<string, string>> {
    return { GOTIFY_URL: await this.double.start() };
  }
  async register(herald: Herald, userId: string): Promise<void> {
    await herald.recipients.set(userId, { gotify: { token: this.token } });
  }
  async hasAddress(herald: Herald, userId: string): Promise<boolean> {
    return (await herald.recipients.get(userId))?.gotify !== undefined;
  }
  secrets(): string[] {
    return [this.token];
  }
}

class NtfyDriver extends HttpDriver {
  readonly channel = 'ntfy';
  protected readonly statuses = { serverError: 502, refused: 403 };
  private readonly token = `tk_${randomBytes(14).toString('hex')}`;
  protected readonly double = ntfyDouble(this.token);

  async start(): Promise<Record<string, string>> {
    return { NTFY_URL: await this.double.start(), NTFY_TOKEN: this.token };
  }
  async register(herald: Herald, userId: string): Promise<void> {
    await herald.recipients.set(userId, { ntfy: { topic: `herald-${userId}` } });
  }
  async hasAddress(herald: Herald, userId: string): Promise<boolean> {
    return (await herald.recipients.get(userId))?.ntfy !== undefined;
  }
  secrets(): string[] {
    return [this.token];
  }
}

class WebhookDriver extends HttpDriver {
  readonly channel = 'webhook';
  protected readonly statuses = { serverError: 500, refused: 403, gone: 410 };
  private readonly secret = `whsec_${randomBytes(32).toString('base64')}`;
  /** The capability in the URL's path: whoever knows it can post to the receiver. */
  private readonly pathSecret = randomBytes(12).toString('hex');
  protected readonly double = webhookReceiver(this.secret);
  private origin = '';

  async start(): Promise<Record<string, string>> {
    this.origin = await this.double.start();
    return { HERALD_WEBHOOK_SECRET: this.secret };
  }
  async register(herald: Herald, userId: string): Promise<void> {
    await herald.recipients.set(userId, { webhook: { url: `${this.origin}/hooks/${userId}/${this.pathSecret}` } });
  }
  async hasAddress(herald: Herald, userId: string): Promise<boolean> {
    return (await herald.recipients.get(userId))?.webhook !== undefined;
  }
  secrets(): string[] {
    return [this.secret, this.secret.slice('whsec_'.length), this.pathSecret];
  }
}

class WebPushDriver implements ChannelDriver {
  readonly channel = 'webpush';
  private readonly vapid = vapidEnv();
  private readonly push = new PushService(this.vapid.VAPID_PUBLIC_KEY!);
  private browser?: TestBrowser;

  async start(): Promise<Record<string, string>> {
    await this.push.start();
    return this.vapid;
  }
  async register(herald: Herald, userId: string): Promise<void> {
    this.browser = this.push.browser();
    await herald.recipients.addWebPush(userId, this.browser.subscription);
  }
  async hasAddress(herald: Herald, userId: string): Promise<boolean> {
    return ((await herald.recipients.get(userId))?.webpush ?? []).length > 0;
  }
  script(answer: Answer): void {
    const answers: Record<Answer, PushAnswer | null> = {
      accept: null,
      serverError: { status: 500 },
      networkError: { reset: true },
      timeout: { hang: true },
      rateLimited: { status: 429, headers: { 'retry-after': RETRY_AFTER_SECONDS } },
      refused: { status: 403 },
      gone: { status: 410 },
    };
    const scripted = answers[answer];
    if (scripted) this.push.answer(this.browser!, scripted);
  }
  arrivals(): number[] {
    return this.push.received.map((r) => r.at);
  }
  wireProblems(): string[] {
    return this.push.received.flatMap((r) => r.problems);
  }
  shown(): { title?: unknown; message?: unknown } {
    const payload = this.push.received.at(-1)?.payload;
    return { title: payload?.title, message: payload?.body };
  }
  secrets(): string[] {
    const { keys, endpoint } = this.browser!.subscription;
    return [this.vapid.VAPID_PRIVATE_KEY!, keys.auth, keys.p256dh, endpoint.slice(endpoint.lastIndexOf('-') + 1)];
  }
  close(): Promise<void> {
    return this.push.close();
  }
}

class EmailDriver implements ChannelDriver {
  readonly channel = 'email';
  private readonly password = `pw-${randomBytes(10).toString('hex')}`;
  private readonly smtp = new SmtpDouble({ tls: 'starttls', auth: { user: 'mailer', pass: this.password } });

  async start(): Promise<Record<string, string>> {
    await this.smtp.start();
    // The double's certificate is self-signed.
    return { SMTP_URL: `${this.smtp.url()}?tls.rejectUnauthorized=false`, MAIL_FROM: 'Herald <noreply@example.org>' };
  }
  async register(herald: Herald, userId: string): Promise<void> {
    await herald.recipients.set(userId, { email: `${userId}@example.net` });
  }
  async hasAddress(herald: Herald, userId: string): Promise<boolean> {
    return (await herald.recipients.get(userId))?.email !== undefined;
  }
  script(answer: Answer): void {
    const replies: Record<Answer, SmtpReply | null> = {
      accept: null,
      serverError: { code: 451, stage: 'rcpt', text: `4.7.1 Greylisted (${this.password})` },
      networkError: { code: 421, stage: 'mail', drop: true },
      timeout: { code: 421, stage: 'mail', hang: true },
      rateLimited: null,
      refused: { code: 550, stage: 'rcpt', text: `5.1.1 No such user (${this.password})` },
      gone: null,
    };
    const reply = replies[answer];
    if (reply) this.smtp.answer(reply);
  }
  arrivals(): number[] {
    return this.smtp.transactions.map((t) => t.at);
  }
  wireProblems(): string[] {
    return this.smtp.accepted.flatMap((t) => {
      const mail = parseMime(t.raw!);
      const problems: string[] = [];
      if (!t.secure) problems.push('the message was sent without TLS');
      if (decodedHeader(mail, 'from') !== 'Herald <noreply@example.org>') problems.push('From is not MAIL_FROM');
      if (!mail.headers.get('message-id')) problems.push('Message-ID is missing');
      if (!findPart(mail, 'text/plain') || !findPart(mail, 'text/html')) problems.push('a text or an HTML part is missing');
      return problems;
    });
  }
  shown(): { title?: unknown; message?: unknown } {
    const last = this.smtp.accepted.at(-1);
    if (!last) return {};
    const mail = parseMime(last.raw!);
    return { title: decodedHeader(mail, 'subject'), message: findPart(mail, 'text/plain')?.body.trim() };
  }
  secrets(): string[] {
    return [this.password];
  }
  close(): Promise<void> {
    return this.smtp.close();
  }
}

/**
 * The inbox: its "provider" is the recipient's inbox in Redis, read back through the SDK as the
 * browser would read it (settle), and checked against the InboxItem shape of the contract.
 */
class InboxDriver implements ChannelDriver {
  readonly channel = 'inbox';
  private items: InboxItem[] = [];

  async start(): Promise<Record<string, string>> {
    return {};
  }
  async register(herald: Herald, userId: string): Promise<void> {
    await herald.recipients.set(userId, {});
  }
  async hasAddress(): Promise<boolean> {
    return true;
  }
  script(): void {}
  async settle(herald: Herald, userId: string): Promise<void> {
    this.items = (await herald.inbox.list(userId)).items.reverse();
  }
  arrivals(): number[] {
    return this.items.map((item) => Date.parse(item.createdAt));
  }
  wireProblems(): string[] {
    const fields = new Set(['id', 'notificationId', 'title', 'message', 'url', 'category', 'data', 'createdAt', 'readAt']);
    return this.items.flatMap((item) => {
      const problems = Object.keys(item)
        .filter((key) => !fields.has(key))
        .map((key) => `unexpected field ${key}`);
      if (item.id !== item.notificationId) problems.push('id is not the notification id');
      if (item.readAt !== null) problems.push('a new item is already read');
      if (Number.isNaN(Date.parse(item.createdAt))) problems.push('createdAt is not a date');
      return problems;
    });
  }
  shown(): { title?: unknown; message?: unknown } {
    const last = this.items.at(-1);
    return last ? { title: last.title, message: last.message } : {};
  }
  secrets(): string[] {
    return [];
  }
  async close(): Promise<void> {}
}

/** A new driver for each channel, with doubles of its own. */
export const DRIVERS: Record<ChannelName, () => ChannelDriver> = {
  gotify: () => new GotifyDriver(),
  webpush: () => new WebPushDriver(),
  email: () => new EmailDriver(),
  ntfy: () => new NtfyDriver(),
  webhook: () => new WebhookDriver(),
  inbox: () => new InboxDriver(),
};
