/**
 * The operator console as the API serves it: GET / sends a browser to /console/, every file of
 * src/console/ is served without a key under a strict Content-Security-Policy, and the files keep
 * to what that policy and the key's handling need (checked on the sources themselves).
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP } from '../../src/http/routes/console.js';
import { Harness, PUBLISH_KEY } from '../helpers/harness.js';

const SOURCES = new URL('../../src/console/', import.meta.url);
const FILES = readdirSync(SOURCES);

let h: Harness;
let api: FastifyInstance;

beforeAll(async () => {
  h = await Harness.create();
  api = await h.app();
});
afterAll(() => h.close());

describe('GET / and /console/', () => {
  it('redirects / and /console to /console/, without a key', async () => {
    const root = await api.inject({ method: 'GET', url: '/' });
    expect(root.statusCode).toBe(302);
    expect(root.headers.location).toBe('/console/');
    const bare = await api.inject({ method: 'GET', url: '/console' });
    expect(bare.statusCode).toBe(301);
    expect(bare.headers.location).toBe('/console/');
  });

  it('serves index.html at /console/ and every console file by name, each with the strict policy', async () => {
    const index = await api.inject({ method: 'GET', url: '/console/' });
    expect(index.statusCode).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.body).toBe(readFileSync(new URL('index.html', SOURCES), 'utf8'));
    expect(FILES).toEqual(expect.arrayContaining(['index.html', 'app.js', 'console.css', 'events.js']));
    for (const name of FILES) {
      const res = await api.inject({ method: 'GET', url: `/console/${name}` });
      expect(res.statusCode, name).toBe(200);
      expect(res.headers, name).toMatchObject({
        'content-security-policy': CONSOLE_CSP,
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
      });
    }
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).toContain("style-src 'self'");
    expect(CONSOLE_CSP).toContain("connect-src 'self'");
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
    expect(CONSOLE_CSP).not.toContain('unsafe');
  });

  it('leaves the console out of the OpenAPI document', async () => {
    const doc = (await api.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((path) => path === '/' || path.startsWith('/console'))).toEqual([]);
  });
});

describe('the console files', () => {
  const scripts = FILES.filter((name) => name.endsWith('.js')).map((name) => [name, readFileSync(new URL(name, SOURCES), 'utf8')] as const);

  it('hold no inline script or style, and load nothing from another origin', () => {
    const html = readFileSync(new URL('index.html', SOURCES), 'utf8');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    for (const [name, text] of [['index.html', html] as const, ...scripts]) expect(text, name).not.toMatch(/(?:src|href)=["']?(?:https?:)?\/\//);
  });

  it('never write markup from strings, evaluate code, or touch localStorage or cookies', () => {
    for (const [name, text] of scripts) {
      expect(text, name).not.toMatch(
        /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|localStorage|document\.cookie|new EventSource/,
      );
    }
  });
});

describe('GET /v1/recipients/:userId/presence', () => {
  it('answers whether the user is online and its devices, with the publish scope', async () => {
    const headers = { authorization: `Bearer ${PUBLISH_KEY}` };
    const offline = await api.inject({ method: 'GET', url: '/v1/recipients/u-p/presence', headers });
    expect(offline.statusCode).toBe(200);
    expect(offline.json()).toEqual({ online: false, devices: [] });
    await h.herald.presence.online('u-p', { ttlSeconds: 60, device: 'phone', context: 'room:42' });
    const online = (await api.inject({ method: 'GET', url: '/v1/recipients/u-p/presence', headers })).json();
    expect(online).toEqual({ online: true, devices: [{ device: 'phone', context: 'room:42', expiresAt: expect.any(String) }] });
    expect((await api.inject({ method: 'GET', url: '/v1/recipients/u-p/presence' })).statusCode).toBe(401);
  });
});
