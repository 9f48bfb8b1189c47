/**
 * Email channel: one message per notification through a pooled SMTP transport (nodemailer) built
 * from SMTP_URL and MAIL_FROM. `smtp://` upgrades with STARTTLS when the server offers it, and
 * refuses to go on without it when the URL carries credentials (smtp-tls.ts) or says
 * `?requireTLS=true`; `smtps://` is TLS from the first byte.
 * A reply of 250 is success; what the failures mean is in failure.ts.
 *
 * Every step (connect, greeting, each reply) has `timeoutMs`; the whole send, a wait for a free
 * pooled connection included, is cut at SEND_DEADLINE_FACTOR × `timeoutMs`, because a server that
 * trickles its replies never trips a socket timeout.
 */
import type { ConnectionOptions } from 'node:tls';
import nodemailer, { type SMTPPoolOptions } from 'nodemailer';
import { smtpFailure } from './failure.js';
import { domainOfSender, renderEmail } from './message.js';
import { credentialsNeedStartTls, smtpTlsProblem } from './smtp-tls.js';
import type { ChannelAdapter, EmailTarget, OutgoingMessage, Receipt, SendContext } from '../types.js';

export interface SmtpSettings {
  url: string;
  from: string;
}

export interface EmailOptions {
  settings: SmtpSettings;
  /** Deadline of one SMTP step (connect, greeting, a reply); the whole send gets a multiple. */
  timeoutMs: number;
  /** The worker's concurrency; the pool opens at most MAX_SMTP_CONNECTIONS of it. */
  connections: number;
  /**
   * TLS options on top of the system's trust store (tests pass the CA of a self-signed server).
   * Operators with a private CA use NODE_EXTRA_CA_CERTS instead.
   */
  tls?: ConnectionOptions;
}

/**
 * Mail servers limit connections per client (often 10–20) and answer more with 421; beyond a few
 * connections throughput comes from reusing them, not from opening more.
 */
export const MAX_SMTP_CONNECTIONS = 10;

/** The whole send (queueing, connect, TLS, AUTH, envelope, DATA) may take this many step deadlines. */
export const SEND_DEADLINE_FACTOR = 2;

type PoolTransport = ReturnType<typeof createPool>;

function createPool(options: EmailOptions) {
  const { timeoutMs } = options;
  // loadConfig refuses such a URL at start; this guards callers that build the channel themselves.
  const tlsProblem = smtpTlsProblem(options.settings.url);
  if (tlsProblem) throw new Error(tlsProblem);
  const pool: SMTPPoolOptions & { pool: true } = {
    pool: true,
    // nodemailer reads host, port, TLS mode and credentials from the URL (query keys such as
    // `requireTLS=true` or `tls.servername=…` too); the keys below fill in the rest.
    url: options.settings.url,
    maxConnections: Math.max(1, Math.min(options.connections, MAX_SMTP_CONNECTIONS)),
    // One requeue lets a message go out on a fresh connection when the server had silently
    // dropped an idle pooled one; every other retry is the processor's, with its backoff.
    maxRequeues: 1,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    dnsTimeout: timeoutMs,
    // nodemailer's logger would print server replies; it stays off.
    logger: false,
    // Content comes from notifications, never from files or URLs on the worker's machine.
    disableFileAccess: true,
    disableUrlAccess: true,
  };
  // A password must never cross the wire in clear text: without STARTTLS the send fails before
  // AUTH (HERALD_SMTP_TLS_REQUIRED). The URL's query cannot undo this (smtpTlsProblem above).
  if (credentialsNeedStartTls(options.settings.url)) pool.requireTLS = true;
  if (options.tls) pool.tls = options.tls;
  return nodemailer.createTransport(pool);
}

export class EmailChannel implements ChannelAdapter<'email'> {
  readonly name = 'email' as const;
  private readonly transport: PoolTransport;
  private readonly fromDomain: string;
  private readonly deadlineMs: number;

  constructor(private readonly options: EmailOptions) {
    this.transport = createPool(options);
    // Failures reach us through sendMail's rejection; an 'error' event without a listener would
    // throw and take the worker down instead.
    this.transport.on('error', () => {});
    this.fromDomain = domainOfSender(options.settings.from);
    this.deadlineMs = SEND_DEADLINE_FACTOR * options.timeoutMs;
  }

  async send(message: OutgoingMessage, target: EmailTarget, ctx: SendContext): Promise<Receipt> {
    const email = renderEmail(message, this.fromDomain);
    // One controller carries both our deadline and the caller's abort (shutdown) into nodemailer,
    // which then drops the message from its queue or closes the connection carrying it.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.deadlineMs);
    const onCallerAbort = () => controller.abort();
    if (ctx.signal?.aborted) controller.abort();
    ctx.signal?.addEventListener('abort', onCallerAbort, { once: true });
    try {
      const info = await this.transport.sendMail({
        from: this.options.settings.from,
        to: target.address,
        subject: email.subject,
        text: email.text,
        html: email.html,
        messageId: email.messageId,
        headers: email.headers,
        ...(email.priority ? { priority: email.priority } : {}),
        signal: controller.signal,
      });
      const receipt: Receipt = { statusCode: replyCode(info.response) };
      const providerId = info.serverMessageId ?? info.messageId;
      if (providerId) receipt.providerId = providerId;
      return receipt;
    } catch (err) {
      throw smtpFailure(err, controller.signal.aborted);
    } finally {
      clearTimeout(timer);
      ctx.signal?.removeEventListener('abort', onCallerAbort);
    }
  }

  close(): Promise<void> {
    // The worker closes adapters after its deliveries finished or were handed back, so a
    // connection still busy here belongs to an abandoned send: `force` ends it too.
    this.transport.close({ force: true });
    return Promise.resolve();
  }
}

/** The code of the server's final reply (`250 2.0.0 Ok: queued`); 250 when it cannot be read. */
function replyCode(response: string | undefined): number {
  const match = response ? /^(2\d\d)\b/.exec(response) : null;
  return match ? Number(match[1]) : 250;
}
