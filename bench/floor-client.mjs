/**
 * The HTTP floor: the Gotify requests Herald's worker would send for `count` notifications (the same
 * body, built by Herald's own gotifyBody, the same token header), sent by one keep-alive undici Pool
 * with `concurrency` requests in flight and nothing else: no queue, no Redis, no status record. No
 * delivery system on this machine can send them faster through the same client library, so Herald's
 * delivered/s is reported as a fraction of this one (see lib/report.mjs).
 *
 * The process is started before the clock of "including start-up" starts, like a worker; `run`
 * starts sending at once and answers when every request has been answered.
 */
import { Pool } from 'undici';
import { benchId, serveParent } from './lib/util.mjs';

const { gotifyBody } = await import(new URL('../dist/src/channels/gotify.js', import.meta.url).href);

let pool;
let settings;

serveParent({
  start({ gotifyUrl, concurrency }) {
    settings = { concurrency };
    pool = new Pool(gotifyUrl, { connections: concurrency, keepAliveTimeout: 30_000 });
    return { pid: process.pid };
  },
  /** Sends the `count` requests, `concurrency` at a time; resolves with how many failed. */
  async run({ count, tag, template, token }) {
    let next = 0;
    let failed = 0;
    let firstFailure = null;
    const lane = async () => {
      while (next < count) {
        const i = next++;
        const body = JSON.stringify(gotifyBody({ id: benchId(tag, i), message: template.message, priority: template.priority, expiresAt: 0 }));
        try {
          const response = await pool.request({
            path: '/message',
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-gotify-key': token },
            body,
          });
          await response.body.text();
          if (response.statusCode !== 200) throw new Error(`gotify answered ${response.statusCode}`);
        } catch (err) {
          failed++;
          firstFailure ??= String(err?.message ?? err);
        }
      }
    };
    await Promise.all(Array.from({ length: settings.concurrency }, lane));
    return { failed, firstFailure };
  },
  async stop() {
    await pool?.close();
    setImmediate(() => process.exit(0));
  },
});
