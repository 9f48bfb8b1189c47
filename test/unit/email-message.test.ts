import { describe, expect, it } from 'vitest';
import { domainOfSender, escapeHtml, messageIdFor, renderEmail, subjectOf, SUBJECT_MAX_CHARS } from '../../src/channels/email/message.js';
import type { OutgoingMessage } from '../../src/channels/types.js';

function message(overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return { id: 'n-1', message: 'Hello', priority: 5, expiresAt: 0, ...overrides } as OutgoingMessage;
}

describe('email subject', () => {
  it('is the title, on one line', () => {
    expect(subjectOf({ title: '  Build\n  failed\t', message: 'x' })).toBe('Build failed');
  });

  it('falls back to the first non-blank line of the message', () => {
    expect(subjectOf({ message: '\n\n   Disk   almost full  \nsecond line' })).toBe('Disk almost full');
    expect(subjectOf({ title: '   ', message: 'from the message' })).toBe('from the message');
    expect(subjectOf({ message: ' \n\t\n' })).toBe('Notification');
  });

  it('cuts a long first line at a code point boundary and marks the cut', () => {
    const line = '😀'.repeat(100);
    const subject = subjectOf({ message: line });
    expect(Array.from(subject)).toHaveLength(SUBJECT_MAX_CHARS);
    expect(subject.endsWith('😀…')).toBe(true);
    expect(subject).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    const exact = 'a'.repeat(SUBJECT_MAX_CHARS);
    expect(subjectOf({ message: exact })).toBe(exact);
  });
});

describe('Message-ID', () => {
  it('depends on the notification id alone and is a valid msg-id for any id', () => {
    const a = messageIdFor('order:42.shipped', 'example.org');
    expect(a).toMatch(/^<[0-9a-f]{32}@herald\.example\.org>$/);
    expect(messageIdFor('order:42.shipped', 'example.org')).toBe(a);
    expect(messageIdFor('order:43.shipped', 'example.org')).not.toBe(a);
  });

  it('takes the domain of MAIL_FROM, in ASCII and lower case', () => {
    expect(domainOfSender('Herald <noreply@Example.ORG>')).toBe('example.org');
    expect(domainOfSender('noreply@mail.example.org')).toBe('mail.example.org');
    expect(domainOfSender('"a@b" <x@bücher.example>')).toBe('xn--bcher-kva.example');
    expect(domainOfSender('no address here')).toBe('localhost');
  });
});

describe('email body', () => {
  it('escapes the message into paragraphs and line breaks, and links http(s) URLs', () => {
    const email = renderEmail(message({ message: 'a < b && c > "d"\r\nit\'s\r\n\r\n\r\nnext', url: 'http://x.example/?q="1"&r=<2>' }), 'example.org');
    expect(email.html).toContain('<p>a &lt; b &amp;&amp; c &gt; &quot;d&quot;<br>\nit&#39;s</p>\n<p>next</p>');
    expect(email.html).toContain('<a href="http://x.example/?q=&quot;1&quot;&amp;r=&lt;2&gt;">');
    expect(email.text).toBe('a < b && c > "d"\r\nit\'s\r\n\r\n\r\nnext\n\nhttp://x.example/?q="1"&r=<2>\n');
  });

  it('shows non-http links as text, never as an href', () => {
    for (const url of ['mesh://room/1', 'javascript:alert(1)', 'data:text/html,<script>', 'not a url']) {
      const { html, text } = renderEmail(message({ url }), 'example.org');
      expect(html).not.toContain('href');
      expect(html).toContain(`<p>${escapeHtml(url)}</p>`);
      expect(text).toContain(url);
    }
  });

  it('has no link paragraph without a url', () => {
    const { html, text } = renderEmail(message({ message: 'just this' }), 'example.org');
    expect(html.match(/<p>/g)).toHaveLength(1);
    expect(text).toBe('just this\n');
  });

  it('sets identifying headers and maps priority to high / normal / low', () => {
    const email = renderEmail(message({ id: 'n-9', category: 'chat', priority: 8 }), 'example.org');
    expect(email.headers).toEqual({ 'X-Herald-Notification-Id': 'n-9', 'X-Herald-Category': 'chat', 'Auto-Submitted': 'auto-generated' });
    expect(email.priority).toBe('high');
    expect(renderEmail(message({ priority: 7 }), 'example.org').priority).toBeUndefined();
    expect(renderEmail(message({ priority: 4 }), 'example.org').priority).toBeUndefined();
    expect(renderEmail(message({ priority: 3 }), 'example.org').priority).toBe('low');
    expect(renderEmail(message({ priority: 0 }), 'example.org').headers).not.toHaveProperty('X-Herald-Category');
  });
});
