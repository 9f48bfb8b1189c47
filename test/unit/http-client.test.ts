import { afterEach, describe, expect, it } from 'vitest';
import { ProviderHttpClient } from '../../src/channels/http-client.js';
import { DeliveryError } from '../../src/channels/types.js';
import { HttpDouble } from '../helpers/http-double.js';

const doubles: HttpDouble[] = [];
afterEach(async () => {
  await Promise.all(doubles.splice(0).map((d) => d.close()));
});

async function double(): Promise<string> {
  const d = new HttpDouble({ status: 200, body: 'x'.repeat(200_000) });
  doubles.push(d);
  return d.start();
}

describe('ProviderHttpClient', () => {
  it('closes the pools of origins it has not used for a while', async () => {
    const client = new ProviderHttpClient('GOTIFY', 2, undefined, 50);
    const a = await double();
    const b = await double();
    await client.request({ url: new URL(`${a}/x`), method: 'POST', headers: {}, timeoutMs: 1000 });
    expect(client.origins).toEqual([new URL(a).origin]);
    await new Promise((r) => setTimeout(r, 80));
    await client.request({ url: new URL(`${b}/x`), method: 'POST', headers: {}, timeoutMs: 1000 });
    expect(client.origins).toEqual([new URL(b).origin]);
    await client.close();
  });

  it('reads at most 64 KiB of a response and has a deadline', async () => {
    const client = new ProviderHttpClient('GOTIFY', 2);
    const url = await double();
    const response = await client.request({ url: new URL(`${url}/x`), method: 'POST', headers: {}, timeoutMs: 1000 });
    expect(response.body.length).toBe(64 * 1024);
    doubles[0]!.answer({ hang: true });
    const error = await client.request({ url: new URL(`${url}/x`), method: 'POST', headers: {}, timeoutMs: 200 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).code).toBe('HERALD_TIMEOUT');
    await client.close();
  });

  it("cuts every request under a caller's signal short when it aborts, and decodes a response's headers when asked", async () => {
    const client = new ProviderHttpClient('GOTIFY', 4);
    const url = await double();
    doubles[0]!.answer({ status: 429, headers: { 'retry-after': '7' } });
    const limited = await client.request({ url: new URL(`${url}/x`), method: 'POST', headers: {}, timeoutMs: 1000 });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('7');
    doubles[0]!.answer({ hang: true });
    doubles[0]!.answer({ hang: true });
    const shutdown = new AbortController();
    const endpoint = new URL(`${url}/x`);
    const pending = [1, 2].map(() =>
      client.request({ url: endpoint, method: 'POST', headers: {}, timeoutMs: 10_000, signal: shutdown.signal }).catch((e: unknown) => e),
    );
    await new Promise((r) => setTimeout(r, 50));
    shutdown.abort();
    for (const error of await Promise.all(pending)) expect((error as DeliveryError).code).toBe('HERALD_TIMEOUT');
    // Already aborted: cut short before it is sent.
    const late = await client.request({ url: endpoint, method: 'POST', headers: {}, timeoutMs: 10_000, signal: shutdown.signal }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(DeliveryError);
    await client.close();
  });
});
