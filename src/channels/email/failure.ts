/**
 * Turns a nodemailer failure into a DeliveryError. Classification reads the SMTP reply code and
 * nodemailer's `code` (with the socket errno it keeps in `originalCode`), never message text:
 *   reply 4xx                                  → transient  HERALD_SMTP_4xx
 *   reply 5xx (a rejected recipient included)  → permanent  HERALD_SMTP_5xx
 *   authentication (EAUTH, ENOAUTH)            → permanent  HERALD_SMTP_AUTH (transient on a 4xx reply, e.g. 454)
 *   STARTTLS refused while TLS is required     → permanent  HERALD_SMTP_TLS_REQUIRED (transient on a 4xx reply)
 *   a request the server never saw as valid    → permanent  HERALD_SMTP_ENVELOPE, _MESSAGE, …
 *   connection, TLS, timeout, anything else    → transient  HERALD_NET_<errno or nodemailer code>
 *
 * Messages are built here from numbers and fixed words only. nodemailer's own messages carry
 * the server's reply text, and the SMTP URL holds a password: neither the message nor the error
 * object is passed on, so no password (or anything a server echoes) reaches attempts or logs.
 */
import { attemptCode, type FixedAttemptCode } from '../../codes.js';
import { DeliveryError } from '../types.js';

/** The fields of a nodemailer error that classification reads. */
export interface SmtpErrorFields {
  code?: string;
  originalCode?: string;
  responseCode?: number;
  command?: string;
  response?: string;
}

const AUTH_CODES = new Set(['EAUTH', 'ENOAUTH', 'EOAUTH2']);

/**
 * nodemailer codes for a message or setting the client refused before or without a server reply:
 * sending the same message again fails the same way.
 */
const PERMANENT_CODES: Record<string, { code: FixedAttemptCode; what: string }> = {
  EENVELOPE: { code: attemptCode.HERALD_SMTP_ENVELOPE, what: 'the sender or recipient address is not valid' },
  EMESSAGE: { code: attemptCode.HERALD_SMTP_MESSAGE, what: 'the message cannot be sent as it is' },
  EREQUIRETLS: { code: attemptCode.HERALD_SMTP_REQUIRETLS, what: 'the server does not support REQUIRETLS' },
  EMAXRECIPIENTS: { code: attemptCode.HERALD_SMTP_MAXRECIPIENTS, what: 'too many recipients' },
  ECONFIG: { code: attemptCode.HERALD_SMTP_CONFIG, what: 'the SMTP settings are not valid' },
};

export function smtpFailure(err: unknown, deadlinePassed: boolean): DeliveryError {
  if (err instanceof DeliveryError) return err;
  if (deadlinePassed) {
    // Whatever nodemailer reports after our own abort is a consequence of it.
    return new DeliveryError('transient', attemptCode.HERALD_TIMEOUT, 'smtp server did not finish before the deadline');
  }
  const e = readFields(err);
  const reply = e.responseCode !== undefined && e.responseCode >= 400 && e.responseCode <= 599 ? e.responseCode : undefined;
  const statusCode = reply === undefined ? {} : { statusCode: reply };
  const detail = replyDetail(reply, e);

  if (e.code !== undefined && AUTH_CODES.has(e.code)) {
    // 454 "temporary authentication failure" and 421 may pass; a refused login will not.
    const kind = reply !== undefined && reply < 500 ? 'transient' : 'permanent';
    return new DeliveryError(kind, attemptCode.HERALD_SMTP_AUTH, `smtp authentication failed${detail}`, statusCode);
  }
  if (e.code === 'ETLS' && e.command === 'STARTTLS' && reply !== undefined) {
    // TLS is required (credentials in SMTP_URL, or ?requireTLS=true) and the server answered
    // STARTTLS with a refusal: it does not offer TLS, so nothing was sent, AUTH included. A
    // configuration problem: the same server answers the same way until someone changes it or
    // SMTP_URL, so retrying is pointless; like a refused login it is permanent (the chain moves on,
    // the last channel dead-letters, and a replay after the fix sends it). RFC 3207's
    // "454 TLS not available due to temporary reason" is the exception, retried.
    const kind = reply < 500 ? 'transient' : 'permanent';
    return new DeliveryError(kind, attemptCode.HERALD_SMTP_TLS_REQUIRED, `smtp server did not start TLS, which the connection requires${detail}`, statusCode);
  }
  if (reply !== undefined) {
    const kind = reply < 500 ? 'transient' : 'permanent';
    const what = e.command === 'RCPT TO' && reply >= 500 ? 'rejected the recipient' : 'answered';
    return new DeliveryError(kind, attemptCode.smtpReply(reply), `smtp server ${what}${detail}`, statusCode);
  }
  const refusal = e.code === undefined ? undefined : PERMANENT_CODES[e.code];
  if (refusal !== undefined) return new DeliveryError('permanent', refusal.code, `smtp message refused: ${refusal.what}`);
  // An errno such as ECONNREFUSED says more than nodemailer's wrapper code (ESOCKET, EDNS).
  const netCode = e.originalCode ?? e.code;
  if (netCode === undefined) {
    // Unknown failures are retried: one extra attempt beats giving up on a message that may pass.
    return new DeliveryError('transient', attemptCode.HERALD_SMTP_ERROR, 'smtp delivery failed');
  }
  return new DeliveryError('transient', attemptCode.net(netCode), `smtp connection failed (${netCode}${e.command ? `, ${e.command}` : ''})`);
}

/** ` (550 5.1.1, RCPT TO)`: the reply code, its enhanced status code (RFC 3463) and the command. */
function replyDetail(reply: number | undefined, e: SmtpErrorFields): string {
  const parts: string[] = [];
  if (reply !== undefined) {
    const enhanced = e.response ? /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(e.response)?.[1] : undefined;
    parts.push(enhanced ? `${reply} ${enhanced}` : String(reply));
  }
  if (e.command) parts.push(e.command);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/**
 * Reads the classification fields off whatever was thrown. `command` is kept only when it is a
 * bare verb (`RCPT TO`, `AUTH PLAIN`), so no argument of a command can travel into a message.
 */
export function readFields(err: unknown): SmtpErrorFields {
  if (typeof err !== 'object' || err === null) return {};
  const source = err as Record<string, unknown>;
  const fields: SmtpErrorFields = {};
  const code = errorCode(source.code);
  if (code) fields.code = code;
  const originalCode = errorCode(source.originalCode);
  if (originalCode) fields.originalCode = originalCode;
  if (typeof source.responseCode === 'number' && Number.isInteger(source.responseCode)) fields.responseCode = source.responseCode;
  if (typeof source.command === 'string' && /^[A-Z]{4,8}( [A-Z0-9-]{2,12})?$/.test(source.command)) fields.command = source.command;
  if (typeof source.response === 'string') fields.response = source.response;
  return fields;
}

/** Error codes become part of our codes, so only the errno / nodemailer shape is accepted. */
function errorCode(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Z][A-Z0-9_]{1,39}$/.test(value) ? value : undefined;
}
