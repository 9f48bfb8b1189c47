import { describe, expect, it } from 'vitest';
import { smtpFailure } from '../../src/channels/email/failure.js';
import { DeliveryError } from '../../src/channels/types.js';

/** An error shaped like the ones nodemailer hands back. */
function nodemailerError(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields);
}

describe('SMTP failure classification', () => {
  it.each([
    [
      '550 for a recipient',
      { code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO', response: '550 5.1.1 <x@y>: unknown' },
      'permanent',
      'HERALD_SMTP_550',
      550,
    ],
    ['451 greylisting', { code: 'EENVELOPE', responseCode: 451, command: 'RCPT TO', response: '451 4.7.1 later' }, 'transient', 'HERALD_SMTP_451', 451],
    ['452 after DATA', { code: 'EMESSAGE', responseCode: 452, command: 'DATA' }, 'transient', 'HERALD_SMTP_452', 452],
    ['552 message too big', { code: 'EMESSAGE', responseCode: 552, command: 'DATA' }, 'permanent', 'HERALD_SMTP_552', 552],
    ['421 service closing', { code: 'ECONNECTION', responseCode: 421, response: '421 4.7.0 bye' }, 'transient', 'HERALD_SMTP_421', 421],
    ['554 greeting', { code: 'EPROTOCOL', responseCode: 554, command: 'CONN' }, 'permanent', 'HERALD_SMTP_554', 554],
    ['535 bad credentials', { code: 'EAUTH', responseCode: 535, command: 'AUTH PLAIN' }, 'permanent', 'HERALD_SMTP_AUTH', 535],
    ['454 temporary auth failure', { code: 'EAUTH', responseCode: 454, command: 'AUTH LOGIN' }, 'transient', 'HERALD_SMTP_AUTH', 454],
    ['auth needed, no credentials', { code: 'ENOAUTH' }, 'permanent', 'HERALD_SMTP_AUTH', undefined],
    [
      'STARTTLS refused while TLS is required',
      { code: 'ETLS', responseCode: 500, command: 'STARTTLS', response: '500 Error: command not recognized' },
      'permanent',
      'HERALD_SMTP_TLS_REQUIRED',
      500,
    ],
    ['454 TLS not available for now', { code: 'ETLS', responseCode: 454, command: 'STARTTLS' }, 'transient', 'HERALD_SMTP_TLS_REQUIRED', 454],
    ['TLS handshake failed after STARTTLS', { code: 'ETLS', command: 'STARTTLS' }, 'transient', 'HERALD_NET_ETLS', undefined],
    ['refused connection', { code: 'ESOCKET', originalCode: 'ECONNREFUSED', command: 'CONN' }, 'transient', 'HERALD_NET_ECONNREFUSED', undefined],
    ['timeout', { code: 'ETIMEDOUT', command: 'CONN' }, 'transient', 'HERALD_NET_ETIMEDOUT', undefined],
    ['unknown host', { code: 'EDNS', originalCode: 'ENOTFOUND' }, 'transient', 'HERALD_NET_ENOTFOUND', undefined],
    ['dropped connection', { code: 'ECONNECTION' }, 'transient', 'HERALD_NET_ECONNECTION', undefined],
    ['bad certificate', { code: 'ESOCKET', originalCode: 'DEPTH_ZERO_SELF_SIGNED_CERT' }, 'transient', 'HERALD_NET_DEPTH_ZERO_SELF_SIGNED_CERT', undefined],
    ['invalid address, no reply', { code: 'EENVELOPE', command: 'API' }, 'permanent', 'HERALD_SMTP_ENVELOPE', undefined],
    ['no code at all', {}, 'transient', 'HERALD_SMTP_ERROR', undefined],
  ])('%s', (_name, fields, kind, code, statusCode) => {
    const error = smtpFailure(nodemailerError('whatever nodemailer said', fields), false);
    expect(error).toBeInstanceOf(DeliveryError);
    expect({ kind: error.kind, code: error.code, statusCode: error.statusCode }).toEqual({ kind, code, statusCode });
  });

  it('reads codes, not message text', () => {
    const error = smtpFailure(nodemailerError('550 5.1.1 permanent failure, user unknown', { code: 'ETIMEDOUT' }), false);
    expect(error).toMatchObject({ kind: 'transient', code: 'HERALD_NET_ETIMEDOUT' });
  });

  it('says the reply code, enhanced status and command, and nothing the server or nodemailer wrote', () => {
    const error = smtpFailure(
      nodemailerError('Invalid login: 535 5.7.8 hunter2 is not the password', {
        code: 'EAUTH',
        responseCode: 535,
        response: '535 5.7.8 hunter2 is not the password',
        // A command with an argument (a base64 credential) is dropped, not echoed.
        command: 'AUTH PLAIN AGh1bnRlcjIAaHVudGVyMg==',
      }),
      false,
    );
    expect(error.message).toBe('HERALD_SMTP_AUTH: smtp authentication failed (535 5.7.8)');
    expect(error.cause).toBeUndefined();
    expect(smtpFailure(nodemailerError('x', { code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO', response: '550 5.1.1 nope' }), false).message).toBe(
      'HERALD_SMTP_550: smtp server rejected the recipient (550 5.1.1, RCPT TO)',
    );
    expect(smtpFailure(nodemailerError('x', { code: 'ESOCKET', originalCode: 'ECONNRESET', command: 'CONN' }), false).message).toBe(
      'HERALD_NET_ECONNRESET: smtp connection failed (ECONNRESET, CONN)',
    );
  });

  it('ignores codes that are not error-code shaped', () => {
    expect(smtpFailure(nodemailerError('x', { code: 'bad code; DROP', originalCode: 42 }), false).code).toBe('HERALD_SMTP_ERROR');
    expect(smtpFailure('a thrown string', false).code).toBe('HERALD_SMTP_ERROR');
  });

  it('reports our own deadline or shutdown as HERALD_TIMEOUT, whatever nodemailer made of it', () => {
    const error = smtpFailure(nodemailerError('Message sending aborted', { code: 'EABORT' }), true);
    expect(error).toMatchObject({ kind: 'transient', code: 'HERALD_TIMEOUT' });
  });

  it('passes a DeliveryError through', () => {
    const original = new DeliveryError('permanent', 'HERALD_SMTP_CONFIG', 'x');
    expect(smtpFailure(original, true)).toBe(original);
  });
});
