/**
 * A real SMTP server (nodemailer's `smtp-server`) on port 0 that stands in for a mail provider.
 * Tests script its reply per message — accept, a 4xx or 5xx at MAIL FROM, RCPT TO or the end of
 * DATA — require a user and password, offer STARTTLS or speak TLS from the first byte with a
 * self-signed certificate made at test time, and read back every message it received, raw.
 */
import { writeSelfSignedCertificate } from '../../bench/lib/certificate.mjs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerError, type SMTPServerSession } from 'smtp-server';

export type SmtpStage = 'mail' | 'rcpt' | 'data';

/** The double's answer to one message: its reply code, where it is given, and its text. */
export interface SmtpReply {
  code: number;
  /** Where a failure reply is given; a 250 accepts at every stage. Default `rcpt`. */
  stage?: SmtpStage;
  text?: string;
}

export const ACCEPT: SmtpReply = { code: 250 };
export const TEMPORARY_451: SmtpReply = { code: 451, stage: 'rcpt', text: '4.7.1 Greylisted, try again later' };
export const REJECTED_550: SmtpReply = { code: 550, stage: 'rcpt', text: '5.1.1 No such user here' };

export type TlsMode = 'none' | 'starttls' | 'implicit';

export interface SmtpDoubleOptions {
  /** Require AUTH with these credentials; a wrong password gets 535. */
  auth?: { user: string; pass: string };
  tls?: TlsMode;
  /** Reply used when the script is empty. Default: accept. */
  fallback?: SmtpReply;
}

/** One mail transaction the double saw (MAIL FROM onwards), whatever its outcome. */
export interface SmtpTransaction {
  from: string;
  to: string[];
  reply: SmtpReply;
  secure: boolean;
  /** The SMTP session (connection) that carried it: equal ids mean a reused connection. */
  sessionId: string;
  /** The authenticated user, when the session logged in. */
  user?: string;
  /** The message as received, when the transaction got as far as DATA. */
  raw?: string;
  at: number;
}

export class SmtpDouble {
  readonly transactions: SmtpTransaction[] = [];
  readonly authFailures: string[] = [];
  /** The user name of every AUTH the double received, accepted or not (a password went over the wire). */
  readonly authAttempts: { user: string; secure: boolean }[] = [];
  /** PEM of the self-signed certificate (also its own CA), when TLS is on. */
  readonly certificate?: string;
  fallback: SmtpReply;
  private readonly script: SmtpReply[] = [];
  private readonly current = new Map<string, SmtpTransaction>();
  private readonly server: SMTPServer;
  private waiters: { check: () => boolean; resolve: () => void }[] = [];
  private port = 0;

  constructor(private readonly options: SmtpDoubleOptions = {}) {
    this.fallback = options.fallback ?? ACCEPT;
    const tls = options.tls ?? 'none';
    const credentials = tls === 'none' ? undefined : selfSignedCertificate();
    this.certificate = credentials?.cert;
    this.server = new SMTPServer({
      logger: false,
      secure: tls === 'implicit',
      ...(credentials ?? {}),
      // With no TLS at all there is nothing to upgrade to; AUTH then goes in clear text (tests only).
      disabledCommands: [...(tls === 'none' ? ['STARTTLS'] : []), ...(options.auth ? [] : ['AUTH'])],
      allowInsecureAuth: true,
      authOptional: !options.auth,
      closeTimeout: 200,
      onAuth: (auth, session, callback) => {
        this.authAttempts.push({ user: auth.username ?? '', secure: session.secure });
        const expected = this.options.auth;
        if (expected && auth.username === expected.user && auth.password === expected.pass) return callback(null, { user: auth.username });
        this.authFailures.push(auth.username ?? '');
        return callback(new Error('Invalid username or password'));
      },
      onMailFrom: (address, session, callback) => {
        const transaction: SmtpTransaction = {
          from: address.address,
          to: [],
          reply: this.script.shift() ?? this.fallback,
          secure: session.secure,
          sessionId: session.id,
          at: Date.now(),
        };
        if (typeof session.user === 'string') transaction.user = session.user;
        this.current.set(session.id, transaction);
        this.transactions.push(transaction);
        this.notify();
        callback(failure(transaction.reply, 'mail'));
      },
      onRcptTo: (address, session, callback) => {
        const transaction = this.transactionOf(session);
        transaction.to.push(address.address);
        callback(failure(transaction.reply, 'rcpt'));
      },
      onData: (stream, session, callback) => {
        const transaction = this.transactionOf(session);
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          transaction.raw = Buffer.concat(chunks).toString('utf8');
          this.notify();
          callback(failure(transaction.reply, 'data'));
        });
      },
    });
  }

  /** Starts listening on a free port of 127.0.0.1. */
  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = this.server.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  /** `smtp://user:pass@127.0.0.1:port` (or `smtps://` for implicit TLS), credentials percent-encoded. */
  url(credentials: { user: string; pass: string } | undefined = this.options.auth): string {
    const scheme = this.options.tls === 'implicit' ? 'smtps' : 'smtp';
    const userinfo = credentials ? `${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.pass)}@` : '';
    return `${scheme}://${userinfo}127.0.0.1:${this.port}`;
  }

  /** Queues replies, used in order by the next messages. */
  answer(...replies: SmtpReply[]): this {
    this.script.push(...replies);
    return this;
  }

  /** The messages the double accepted. */
  get accepted(): SmtpTransaction[] {
    return this.transactions.filter((t) => t.reply.code === 250 && t.raw !== undefined);
  }

  /** Resolves once `count` transactions have started, or rejects after `timeoutMs`. */
  waitForTransactions(count: number, timeoutMs = 10_000): Promise<void> {
    return this.waitUntil(() => this.transactions.length >= count, `${count} transactions`, timeoutMs);
  }

  /** Resolves once `count` messages were accepted, or rejects after `timeoutMs`. */
  waitForAccepted(count: number, timeoutMs = 10_000): Promise<void> {
    return this.waitUntil(() => this.accepted.length >= count, `${count} accepted messages`, timeoutMs);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private waitUntil(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`expected ${what}; saw ${this.transactions.length} transactions`)), timeoutMs);
      this.waiters.push({
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  private notify(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  }

  private transactionOf(session: SMTPServerSession): SmtpTransaction {
    const transaction = this.current.get(session.id);
    if (!transaction) throw new Error('SMTP double: RCPT or DATA without MAIL FROM');
    return transaction;
  }
}

/** The error that makes smtp-server answer `reply` at `stage`, or null to go on. */
function failure(reply: SmtpReply, stage: SmtpStage): SMTPServerError | null {
  if (reply.code === 250 || (reply.stage ?? 'rcpt') !== stage) return null;
  const error: SMTPServerError = new Error(reply.text ?? 'scripted failure');
  error.responseCode = reply.code;
  return error;
}

let certificate: { key: string; cert: string } | undefined;

/**
 * A P-256 key and a self-signed certificate for 127.0.0.1 and localhost, valid one day, made by
 * `openssl` once per test process (node:crypto cannot write X.509 certificates).
 */
export function selfSignedCertificate(): { key: string; cert: string } {
  certificate ??= (() => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-smtp-cert-'));
    try {
      const { keyFile, certFile } = writeSelfSignedCertificate(dir, { commonName: 'localhost', altNames: 'IP:127.0.0.1,DNS:localhost' });
      return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  })();
  return certificate;
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}
