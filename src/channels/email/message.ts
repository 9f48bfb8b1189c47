/**
 * Renders a notification as an email: subject, a text part, an HTML part and the headers that
 * identify it. Pure functions without I/O, so the rendering is tested without an SMTP server.
 *
 * Invariant: the Message-ID depends on the notification id alone. Every send of one notification
 * (a retry, a resend after a worker died mid-delivery, a dead-letter replay) carries the same
 * Message-ID, so a mail server or client that already holds it can recognise the duplicate.
 */
import { createHash } from 'node:crypto';
import { domainToASCII } from 'node:url';
import type { OutgoingMessage } from '../types.js';

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
  /** With the angle brackets, as it goes into the `Message-ID` header. */
  messageId: string;
  headers: Record<string, string>;
  /** nodemailer sets `X-Priority`, `X-MSMail-Priority` and `Importance` from this; absent = normal. */
  priority?: 'high' | 'low';
}

/** RFC 5322 asks for header lines of at most 78 characters; a longer fallback subject is cut. */
export const SUBJECT_MAX_CHARS = 78;

/** Used when neither the title nor the message has a visible character. */
const DEFAULT_SUBJECT = 'Notification';

/** Hex characters of the SHA-256 of the notification id in the Message-ID: 128 bits. */
const MESSAGE_ID_HASH_CHARS = 32;

export function renderEmail(message: OutgoingMessage, fromDomain: string): RenderedEmail {
  const subject = subjectOf(message);
  const link = message.url ? linkOf(message.url) : undefined;
  const headers: Record<string, string> = {
    'X-Herald-Notification-Id': message.id,
    // RFC 3834: tells vacation responders and ticket systems not to answer a machine.
    'Auto-Submitted': 'auto-generated',
  };
  if (message.category) headers['X-Herald-Category'] = message.category;

  const rendered: RenderedEmail = {
    subject,
    text: link ? `${message.message}\n\n${link.url}\n` : `${message.message}\n`,
    html: htmlOf(subject, message.message, link),
    messageId: messageIdFor(message.id, fromDomain),
    headers,
  };
  // Same bands as Web Push Urgency: 8-10 high, 0-3 below normal.
  if (message.priority >= 8) rendered.priority = 'high';
  else if (message.priority <= 3) rendered.priority = 'low';
  return rendered;
}

/** The title, or else the first non-blank line of the message, cut to SUBJECT_MAX_CHARS. */
export function subjectOf(message: Pick<OutgoingMessage, 'title' | 'message'>): string {
  const title = collapse(message.title ?? '');
  if (title) return title;
  const firstLine = message.message
    .split(/\r?\n/)
    .map(collapse)
    .find((line) => line.length > 0);
  if (!firstLine) return DEFAULT_SUBJECT;
  // Cut by code points, not UTF-16 units, so an emoji is never split in half.
  const chars = Array.from(firstLine);
  return chars.length <= SUBJECT_MAX_CHARS
    ? firstLine
    : `${chars
        .slice(0, SUBJECT_MAX_CHARS - 1)
        .join('')
        .trimEnd()}…`;
}

/** `<hash@herald.example.org>`: a hash because notification ids may hold `:`, which a msg-id may not. */
export function messageIdFor(notificationId: string, fromDomain: string): string {
  const hash = createHash('sha256').update(notificationId).digest('hex').slice(0, MESSAGE_ID_HASH_CHARS);
  return `<${hash}@herald.${fromDomain}>`;
}

/**
 * The domain of the sender address in MAIL_FROM (`Herald <noreply@example.org>` or a bare
 * address), in its ASCII form, lower case; `localhost` when there is none.
 */
export function domainOfSender(from: string): string {
  const match = /@([^\s@<>"]+)>?\s*$/.exec(from);
  const ascii = match ? domainToASCII(match[1]!.toLowerCase()) : '';
  return ascii || 'localhost';
}

interface Link {
  url: string;
  /** Only http(s) links become anchors; an app scheme (`mesh://room/1`) stays text in the HTML. */
  clickable: boolean;
}

function linkOf(url: string): Link {
  let clickable = false;
  try {
    const protocol = new URL(url).protocol;
    clickable = protocol === 'https:' || protocol === 'http:';
  } catch {
    // Not a parseable URL: shown as text, never as an href.
  }
  return { url, clickable };
}

function htmlOf(subject: string, body: string, link: Link | undefined): string {
  // Blank lines separate paragraphs; a single line break stays a line break.
  const paragraphs = body
    .split(/(?:\r?\n){2,}/)
    .filter((p) => p.trim().length > 0)
    .map((p) => `<p>${p.split(/\r?\n/).map(escapeHtml).join('<br>\n')}</p>`);
  if (link) {
    const shown = escapeHtml(link.url);
    paragraphs.push(link.clickable ? `<p><a href="${shown}">${shown}</a></p>` : `<p>${shown}</p>`);
  }
  return [
    '<!DOCTYPE html>',
    '<html>',
    `<head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>`,
    '<body>',
    ...paragraphs,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Escapes text for element content and double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!);
}

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function collapse(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
