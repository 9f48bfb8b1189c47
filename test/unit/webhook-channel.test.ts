import { afterEach, describe, expect, it } from 'vitest';
import { generateSecret } from '../../src/channels/standard-webhooks.js';
import type { OutgoingMessage } from '../../src/channels/types.js';
import { webhookBody, WebhookChannel, type WebhookOptions } from '../../src/channels/webhook.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

const MESSAGE: OutgoingMessage = { id: 'n-1', message: 'hi', priority: 5, expiresAt: Date.now() + 60_000 };

function channel(options: Partial<WebhookOptions> & { secret?: string } = {}): WebhookChannel {
  const made = new WebhookChannel({
    settings: { secret: options.secret ?? generateSecret() },
    timeoutMs: 2000,
    connections: 1,
    allowPrivateEndpoints: false,
    ...options,
  });
  closers.push(() => made.close());
  return made;
}

describe('the webhook channel', () => {
  it('sends the notification fields it has, and no others', () => {
    expect(JSON.parse(webhookBody({ ...MESSAGE, collapseKey: 'k' }))).toEqual({ id: 'n-1', message: 'hi', priority: 5 });
    const full = { ...MESSAGE, title: 'T', url: 'https://example.org/x', category: 'c', data: { a: 1 } };
    expect(JSON.parse(webhookBody(full))).toEqual({
      id: 'n-1',
      title: 'T',
      message: 'hi',
      priority: 5,
      url: 'https://example.org/x',
      category: 'c',
      data: { a: 1 },
    });
  });

  it('counts any 2xx as delivered, and never follows a redirect (permanent)', async () => {
    const secret = generateSecret();
    const receiver = webhookReceiver(secret);
    const origin = await receiver.start();
    closers.push(() => receiver.close());
    receiver.answer({ status: 202 }, { status: 302, headers: { location: 'http://169.254.169.254/latest' } });
    const webhook = channel({ secret, allowPrivateEndpoints: true });
    expect(await webhook.send(MESSAGE, { url: `${origin}/hook` }, {})).toEqual({ statusCode: 202 });
    const redirected = await webhook.send(MESSAGE, { url: `${origin}/hook` }, {}).catch((err: unknown) => err);
    expect(redirected).toMatchObject({ kind: 'permanent', code: 'HERALD_WEBHOOK_HTTP_302', statusCode: 302 });
    expect(receiver.requests.map((r) => [r.path, r.problems])).toEqual([
      ['/hook', []],
      ['/hook', []],
    ]);
  });
});
