/**
 * The Web Push client kit as the HTTP API serves it (/sdk/herald-push.js, /sdk/herald-sw.js) and as
 * the package exports it (`herald/push`), and the static file serving beneath (http/static.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { serveStaticFiles } from '../../src/http/static.js';
import { Harness, PUBLISH_KEY } from '../helpers/harness.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function app(): Promise<FastifyInstance> {
  const h = await Harness.create();
  cleanups.push(() => h.close());
  return h.app();
}

describe('GET /sdk/…', () => {
  it('serves the module and the service worker as they are shipped, to anyone, with strict headers', async () => {
    const api = await app();
    for (const name of ['herald-push.js', 'herald-sw.js']) {
      const res = await api.inject({ method: 'GET', url: `/sdk/${name}` });
      expect(res.statusCode).toBe(200);
      expect(res.body).toBe(readFileSync(`src/client/${name}`, 'utf8'));
      expect(res.headers).toMatchObject({
        'content-type': 'text/javascript; charset=utf-8',
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-cache',
        'access-control-allow-origin': '*',
        'cross-origin-resource-policy': 'cross-origin',
      });
      expect(res.headers.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
      // No API key needed, although the app has keys.
      expect(res.headers['service-worker-allowed']).toBe(name === 'herald-sw.js' ? '/' : undefined);
    }
  });

  it('answers a revalidation with 304, and HEAD without a body', async () => {
    const api = await app();
    const first = await api.inject({ method: 'GET', url: '/sdk/herald-sw.js' });
    const etag = String(first.headers.etag);
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const again = await api.inject({ method: 'GET', url: '/sdk/herald-sw.js', headers: { 'if-none-match': ifNoneMatch } });
      expect(again.statusCode).toBe(304);
      expect(again.body).toBe('');
    }
    const changed = await api.inject({ method: 'GET', url: '/sdk/herald-sw.js', headers: { 'if-none-match': '"other"' } });
    expect(changed.statusCode).toBe(200);
    const head = await api.inject({ method: 'HEAD', url: '/sdk/herald-push.js' });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-type']).toBe('text/javascript; charset=utf-8');
  });

  it('serves nothing else from the folder or beside it', async () => {
    const api = await app();
    for (const url of ['/sdk/herald-push.d.ts', '/sdk/', '/sdk/../package.json', '/sdk/%2e%2e/package.json', '/sdk/herald-push.js/']) {
      const res = await api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${PUBLISH_KEY}` } });
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error.code).toBe('HERALD_ERR_NOT_FOUND');
    }
  });
});

describe('GET /v1/webpush/public-key', () => {
  it('may be read by a page of any origin, as the kit needs', async () => {
    const api = await app();
    const res = await api.inject({ method: 'GET', url: '/v1/webpush/public-key', headers: { origin: 'https://app.example.org' } });
    expect(res.headers['access-control-allow-origin']).toBe('*');
  });
});

describe('the package export herald/push', () => {
  it('resolves to the shipped module, with its types beside it', () => {
    const require = createRequire(import.meta.url);
    const resolved = require.resolve('herald/push');
    expect(resolved).toBe(resolve('dist/src/client/herald-push.js'));
    expect(readFileSync(resolved, 'utf8')).toBe(readFileSync('src/client/herald-push.js', 'utf8'));
    expect(readFileSync(resolve('dist/src/client/herald-sw.js'), 'utf8')).toBe(readFileSync('src/client/herald-sw.js', 'utf8'));
    expect(readFileSync(resolve('dist/src/client/herald-push.d.ts'), 'utf8')).toMatch(/export declare function subscribe/);
  });
});

describe('static files', () => {
  function folder(files: Record<string, string>): URL {
    const dir = mkdtempSync(join(tmpdir(), 'herald-static-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    mkdirSync(join(dir, 'nested'));
    return pathToFileURL(`${dir}/`);
  }

  async function bare(): Promise<FastifyInstance> {
    const server = Fastify();
    cleanups.push(() => server.close());
    return server;
  }

  it('serves every file of a folder (not its subfolders) with its type, the index at the prefix, and the headers asked for', async () => {
    const server = await bare();
    const directory = folder({ 'index.html': '<!doctype html>', 'app.css': 'p{}', 'logo.svg': '<svg/>' });
    await serveStaticFiles(server, {
      prefix: '/console/',
      directory,
      index: 'index.html',
      cacheControl: 'max-age=60',
      headers: { 'content-security-policy': "default-src 'self'" },
      fileHeaders: { 'index.html': { 'x-frame-options': 'DENY' } },
    });
    const index = await server.inject({ method: 'GET', url: '/console/' });
    expect(index.body).toBe('<!doctype html>');
    expect(index.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'max-age=60',
      'content-security-policy': "default-src 'self'",
      'x-frame-options': 'DENY',
    });
    const css = await server.inject({ method: 'GET', url: '/console/app.css' });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(css.headers['x-frame-options']).toBeUndefined();
    expect((await server.inject({ method: 'GET', url: '/console/logo.svg' })).headers['content-type']).toBe('image/svg+xml');
    expect((await server.inject({ method: 'GET', url: '/console/nested' })).statusCode).toBe(404);
  });

  it('refuses, when the app is built, a file it has no type for, a missing file, a path, and a bad prefix', async () => {
    const directory = folder({ 'notes.md': '# x', 'ok.js': '' });
    await expect(serveStaticFiles(await bare(), { prefix: '/x/', directory })).rejects.toThrow(/no content type for "notes.md"/);
    await expect(serveStaticFiles(await bare(), { prefix: '/x/', directory, files: ['missing.js'] })).rejects.toThrow(/ENOENT/);
    await expect(serveStaticFiles(await bare(), { prefix: '/x/', directory, files: ['../ok.js'] })).rejects.toThrow(/plain file name/);
    await expect(serveStaticFiles(await bare(), { prefix: '/x', directory, files: ['ok.js'] })).rejects.toThrow(/start and end with \//);
  });
});
