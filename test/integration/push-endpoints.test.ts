import { afterEach, describe, expect, it } from 'vitest';
import { Harness, PUBLISH_KEY } from '../helpers/harness.js';

let h: Harness;
afterEach(async () => h?.close());

const keys = { p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM', auth: 'tBHItJI5svbpez7KI4CCXg' };
const headers = { authorization: `Bearer ${PUBLISH_KEY}` };

async function queued(): Promise<number> {
  const redis = await h.herald.connection();
  return (await redis.keys(`${h.prefix}:n:*`)).length;
}

describe('explicit push endpoints of a request', () => {
  it('a batch naming more push hosts than one request may is refused whole, before any lookup', async () => {
    h = await Harness.create({ env: { HERALD_ALLOW_PRIVATE_ENDPOINTS: '0' } });
    const app = await h.app();
    // 18 notifications × 50 targets, every endpoint on a host of its own: 900 host names.
    const notifications = Array.from({ length: 18 }, (_, n) => ({
      message: `n${n}`,
      targets: { webpush: Array.from({ length: 50 }, (_, t) => ({ endpoint: `https://p${n}-${t}.push.invalid/wpush/1`, keys })) },
    }));
    const res = await app.inject({ method: 'POST', url: '/v1/notifications/batch', headers, payload: { notifications } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({
      code: 'HERALD_ERR_VALIDATION',
      details: [{ field: 'notifications', message: 'The push endpoints name 900 different hosts; at most 50 per request' }],
    });
    expect(await queued()).toBe(0);
  });

  it('a batch item with a refused endpoint gets its own error; the others are enqueued', async () => {
    h = await Harness.create({ env: { HERALD_ALLOW_PRIVATE_ENDPOINTS: '0' } });
    const app = await h.app();
    const notifications = [
      { id: 'plain', to: 'u-1', message: 'no endpoints' },
      {
        id: 'private',
        message: 'to the metadata service',
        targets: {
          webpush: [
            { endpoint: 'https://8.8.8.8/ok', keys },
            { endpoint: 'https://169.254.169.254/latest', keys },
          ],
        },
      },
      { id: 'public', message: 'to a public address', targets: { webpush: [{ endpoint: 'https://8.8.4.4/wpush/1', keys }] } },
    ];
    const res = await app.inject({ method: 'POST', url: '/v1/notifications/batch', headers, payload: { notifications } });
    expect(res.statusCode).toBe(202);
    expect(res.json().results).toEqual([
      { id: 'plain', status: 'queued', duplicate: false },
      {
        error: {
          code: 'HERALD_ERR_VALIDATION',
          message: 'Invalid fields: targets.webpush.1.endpoint',
          details: [{ field: 'targets.webpush.1.endpoint', message: 'Must be on a public address' }],
        },
      },
      { id: 'public', status: 'queued', duplicate: false },
    ]);
    expect(await h.herald.status('private')).toBeNull();
  });
});
