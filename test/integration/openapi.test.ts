import { afterEach, describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { DOCUMENTED_ROUTES } from '../../src/http/openapi.js';
import type { TSchema } from '@sinclair/typebox';
import { NotificationSchema, PresenceSchema, PushSubscriptionSchema, RecipientSchema } from '../../src/schemas.js';
import { schemaErrors } from '../../src/validate.js';
import { Harness, PUBLISH_KEY } from '../helpers/harness.js';

let h: Harness;
afterEach(async () => h?.close());

type Json = Record<string, unknown>;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

/** Every `$ref` in the document, with where it was found. */
function refs(node: unknown, path = '#'): [string, string][] {
  if (Array.isArray(node)) return node.flatMap((item, i) => refs(item, `${path}/${i}`));
  if (!node || typeof node !== 'object') return [];
  return Object.entries(node as Json).flatMap(([key, value]) =>
    key === '$ref' && typeof value === 'string' ? [[value, path] as [string, string]] : refs(value, `${path}/${key}`),
  );
}

function resolve(doc: Json, ref: string): unknown {
  return ref
    .slice(2)
    .split('/')
    .reduce<unknown>((node, part) => (node as Json | undefined)?.[part], doc);
}

/** Every schema object of the operations: parameters, request bodies, answers. */
function operationSchemas(operation: Json): unknown[] {
  const parameters = ((operation.parameters ?? []) as Json[]).map((p) => p.schema);
  const content = (holder: unknown) => Object.values(((holder as Json | undefined)?.content ?? {}) as Record<string, Json>).map((c) => c.schema);
  return [...parameters, ...content(operation.requestBody), ...Object.values((operation.responses ?? {}) as Json).flatMap(content)];
}

describe('OpenAPI', () => {
  it('serves a valid OpenAPI 3.1 document of every route at /docs/json, without an API key', async () => {
    h = await Harness.create();
    const app = await h.app();
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as Json;

    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: 'Herald', version: expect.any(String) });
    const schemes = (doc.components as Json).securitySchemes as Json;
    expect(schemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });

    const paths = doc.paths as Record<string, Record<string, Json>>;
    const operations = Object.entries(paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));
    // The app's routes are exactly the documented ones (Swagger lists every route it is not told to hide).
    const listed = operations.map(({ path, method }) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`);
    expect(listed.sort()).toEqual([...DOCUMENTED_ROUTES].sort());

    const ajv = new Ajv2020({ strict: false });
    for (const { path, method, op } of operations) {
      const where = `${method} ${path}`;
      expect(METHODS, where).toContain(method);
      expect(op.summary, where).toEqual(expect.any(String));
      const responses = op.responses as Record<string, Json>;
      expect(Object.keys(responses).length, where).toBeGreaterThan(0);
      for (const [status, answer] of Object.entries(responses)) {
        expect(status, where).toMatch(/^([1-5]\d\d|default)$/);
        expect(answer.description, `${where} ${status}`).toEqual(expect.any(String));
      }
      // Path templates and path parameters agree, and path parameters are required.
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const pathParams = ((op.parameters ?? []) as Json[]).filter((p) => p.in === 'path');
      expect(pathParams.map((p) => p.name).sort(), where).toEqual(templated.sort());
      for (const p of pathParams) expect(p.required, where).toBe(true);
      // Security names only declared schemes; routes behind a key say so, public ones say none.
      const security = op.security as Record<string, string[]>[];
      expect(Array.isArray(security), where).toBe(true);
      for (const requirement of security) for (const name of Object.keys(requirement)) expect(schemes, where).toHaveProperty(name);
      const isPublic = ['/healthz', '/readyz', '/v1/webpush/public-key'].includes(path);
      expect(security, where).toEqual(isPublic ? [] : [{ bearer: [] }]);
      if (!isPublic) expect(responses['401'], where).toBeDefined();
      // Every schema is valid JSON Schema 2020-12, the dialect of OpenAPI 3.1.
      for (const schema of operationSchemas(op)) {
        expect(ajv.validateSchema(schema as object), `${where}: ${JSON.stringify(ajv.errors)}`).toBe(true);
      }
    }
    for (const [ref, at] of refs(doc)) expect(resolve(doc, ref), `${ref} at ${at}`).toBeDefined();

    // The request bodies are the schemas Herald validates with. @fastify/swagger rewrites a few
    // keywords (const → enum, patternProperties → additionalProperties), so they are compared by
    // verdict: the documented schema accepts exactly the bodies Herald's own check accepts.
    const body = (path: string, method: string) =>
      ((paths[path]![method]!.requestBody as Json).content as Record<string, Json>)['application/json']!.schema as object;
    const agrees = (documented: object, schema: TSchema, samples: unknown[]) => {
      const check = ajv.compile(documented);
      expect(samples.map((sample) => check(sample))).toEqual(samples.map((sample) => schemaErrors(schema, sample).length === 0));
    };
    const notifications: unknown[] = [
      { message: 'hi' },
      {
        id: 'a.b:c-1',
        to: 'u-1',
        title: 't',
        message: 'm',
        priority: 10,
        url: 'mesh://x',
        category: 'chat',
        data: { a: [1, { b: null }] },
        channels: ['email', 'gotify'],
        ttlSeconds: 60,
        delayMs: 0,
        collapseKey: 'k_1',
        skipIfOnline: true,
        targets: {
          gotify: { token: 'A' },
          email: 'a@b.org',
          webpush: [{ endpoint: 'https://p.example/x', expirationTime: null, keys: { p256dh: 'BP', auth: 'au' } }],
        },
      },
      {},
      { message: 5 },
      { message: '' },
      { message: 'm', priority: 11 },
      { message: 'm', priority: 1.5 },
      { message: 'm', extra: 1 },
      { message: 'm', channels: ['sms'] },
      { message: 'm', channels: ['gotify', 'gotify'] },
      { message: 'm', channels: [] },
      { message: 'm', data: 'x' },
      { message: 'm', id: 'has space' },
      { message: 'm', collapseKey: 'a/b' },
      { message: 'm', targets: { webpush: [{ endpoint: 'e', keys: { p256dh: 'x', auth: 'y' }, more: 1 }] } },
      { message: 'm', targets: { gotify: {} } },
      { message: 'm', ttlSeconds: 0 },
      'text',
      null,
      [],
    ];
    agrees(body('/v1/notifications', 'post'), NotificationSchema, notifications);
    agrees(
      (body('/v1/notifications/batch', 'post') as Json & { properties: { notifications: { items: object } } }).properties.notifications.items,
      NotificationSchema,
      notifications,
    );
    agrees(body('/v1/recipients/{userId}', 'put'), RecipientSchema, [
      {},
      { email: 'a@b.org', gotify: { token: 'A' }, channels: ['webpush'] },
      { email: 'nope' },
      { channels: ['x'] },
      { gotify: { token: '' } },
      { extra: 1 },
    ]);
    agrees(body('/v1/recipients/{userId}/webpush', 'post'), PushSubscriptionSchema, [
      { endpoint: 'https://x', keys: { p256dh: 'a', auth: 'b' } },
      { endpoint: 'https://x' },
      { endpoint: 'https://x', keys: { p256dh: 'a b', auth: 'b' } },
      { endpoint: '', keys: { p256dh: 'a', auth: 'b' } },
    ]);
    agrees(body('/v1/recipients/{userId}/presence', 'put'), PresenceSchema, [
      { ttlSeconds: 60 },
      { ttlSeconds: 0 },
      { ttlSeconds: 86_401 },
      { ttlSeconds: '60' },
      {},
    ]);
    expect((body('/v1/notifications/batch', 'post') as Json).properties).toEqual({ notifications: expect.objectContaining({ minItems: 1, maxItems: 1000 }) });
    expect(Object.keys(((paths['/metrics']!.get!.responses as Json)['200'] as Json).content as Json)).toEqual(['text/plain']);
  });

  it('serves Swagger UI at /docs without an API key', async () => {
    h = await Harness.create();
    const app = await h.app();
    let res = await app.inject({ method: 'GET', url: '/docs' });
    if (res.statusCode === 302) res = await app.inject({ method: 'GET', url: String(res.headers.location) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).toContain('Swagger UI');
  });

  it('documents bodies without letting Fastify validate them: Herald still answers with its own errors', async () => {
    h = await Harness.create();
    const app = await h.app();
    const headers = { authorization: `Bearer ${PUBLISH_KEY}` };
    const bad = await app.inject({ method: 'POST', url: '/v1/notifications', headers, payload: { message: 5, priority: 11, extra: true } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('HERALD_ERR_VALIDATION');
    expect(
      bad
        .json()
        .error.details.map((d: { field: string }) => d.field)
        .sort(),
    ).toEqual(['extra', 'message', 'priority']);
    // A publish key without a body is refused for the key first, not for the body.
    expect((await app.inject({ method: 'PUT', url: '/v1/recipients/u-1/presence', payload: {} })).statusCode).toBe(401);
    const presence = await app.inject({ method: 'PUT', url: '/v1/recipients/u-1/presence', headers, payload: { ttlSeconds: 0 } });
    expect(presence.json().error).toMatchObject({ code: 'HERALD_ERR_VALIDATION', details: [{ field: 'ttlSeconds' }] });
    // Answers are written as they are, not filtered through the documented schemas.
    const ok = await app.inject({ method: 'PUT', url: '/v1/recipients/u-1', headers, payload: { email: 'a@b.org', gotify: { token: 'Atoken' } } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual(await h.herald.recipients.get('u-1'));
  });
});
