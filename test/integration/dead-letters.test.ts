import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { ADMIN_KEY, Harness } from '../helpers/harness.js';

let h: Harness;
afterEach(async () => h?.close());

const admin = { authorization: `Bearer ${ADMIN_KEY}` };

describe('dead-letter queue', () => {
  it('keeps every attempt, replays after the provider recovers, and counts replays', async () => {
    h = await Harness.create({ env: { HERALD_MAX_ATTEMPTS: '2' } });
    await h.register('u');
    const app = await h.app();
    // One outage answer, then a refusal for good: only the refusal makes a dead letter.
    h.gotify.answer({ status: 503 });
    h.gotify.fallback = { status: 401 };
    await h.startWorker();
    const { id } = await h.herald.notify({ id: 'dl-1', to: 'u', message: 'will fail', channels: ['gotify'] });
    await h.waitForStatus(id, 'failed');

    const list = await app.inject({ method: 'GET', url: '/v1/dead-letters', headers: admin });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toMatchObject({ items: [{ id, replays: 0, notification: { id, message: 'will fail' } }], next: null });
    expect(list.json().items[0].attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['transient', 'permanent']);

    // Still failing: it comes back with replays one higher.
    const replay1 = await app.inject({ method: 'POST', url: `/v1/dead-letters/${id}/replay`, headers: admin });
    expect([replay1.statusCode, replay1.json()]).toEqual([202, { id, status: 'queued' }]);
    await h.waitForStatus(id, (s) => s.status === 'failed' && s.attempts.length === 3);
    expect((await h.herald.deadLetters.get(id))?.replays).toBe(1);

    // The provider recovers: the replay delivers and the dead letter is gone.
    h.gotify.fallback = { status: 200 };
    await app.inject({ method: 'POST', url: `/v1/dead-letters/${id}/replay`, headers: admin });
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.attempts.map((a) => a.outcome)).toEqual(['transient', 'permanent', 'permanent', 'delivered']);
    expect((await app.inject({ method: 'GET', url: `/v1/dead-letters/${id}`, headers: admin })).statusCode).toBe(404);
    expect(await h.herald.deadLetters.count()).toBe(0);
    // A delivered notification cannot be replayed.
    expect((await app.inject({ method: 'POST', url: `/v1/dead-letters/${id}/replay`, headers: admin })).statusCode).toBe(404);
  });

  it('paginates newest first with a stable cursor, and deletes', async () => {
    h = await Harness.create({ env: { HERALD_MAX_ATTEMPTS: '1' } });
    await h.register('u');
    const app = await h.app();
    h.gotify.fallback = { status: 401 };
    await h.startWorker();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { id } = await h.herald.notify({ id: `p-${i}`, to: 'u', message: `m${i}`, channels: ['gotify'] });
      await h.waitForStatus(id, 'failed');
      ids.push(id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await app.inject({ method: 'GET', url: `/v1/dead-letters?limit=2${cursor ? `&cursor=${cursor}` : ''}`, headers: admin });
      const page = res.json() as { items: { id: string }[]; next: string | null };
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.next;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());

    expect((await app.inject({ method: 'DELETE', url: '/v1/dead-letters/p-2', headers: admin })).statusCode).toBe(204);
    expect((await app.inject({ method: 'DELETE', url: '/v1/dead-letters/p-2', headers: admin })).statusCode).toBe(404);
    expect((await h.herald.deadLetters.list()).items.map((i) => i.id)).toEqual(['p-4', 'p-3', 'p-1', 'p-0']);
    expect((await h.herald.status('p-2'))?.status).toBe('failed');
    expect((await app.inject({ method: 'GET', url: '/v1/dead-letters?cursor=garbage', headers: admin })).statusCode).toBe(400);
  });

  it('lists, replays and deletes from the shell', async () => {
    h = await Harness.create({ env: { HERALD_MAX_ATTEMPTS: '1' } });
    await h.register('u');
    h.gotify.fallback = { status: 403 };
    await h.startWorker();
    await h.herald.notify({ id: 'cli-1', to: 'u', message: 'x', channels: ['gotify'] });
    await h.herald.notify({ id: 'cli-2', to: 'u', message: 'y', channels: ['gotify'] });
    await h.waitForStatus('cli-1', 'failed');
    await h.waitForStatus('cli-2', 'failed');
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['dist/src/cli.js', 'dlq', ...args], { env: { ...process.env, ...h.env }, encoding: 'utf8' });
    const list = run('list');
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/^cli-2\t.*gotify:HERALD_GOTIFY_HTTP_403\n/m);
    expect(list.stdout).toMatch(/^cli-1\t/m);
    h.gotify.fallback = { status: 200 };
    expect(run('replay', 'cli-1').stdout).toContain('"status":"queued"');
    await h.waitForStatus('cli-1', 'delivered');
    expect(run('delete', 'cli-2').status).toBe(0);
    const missing = run('replay', 'nope');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('HERALD_ERR_NOT_FOUND');
    expect(await h.herald.deadLetters.count()).toBe(0);
  });
});
