/**
 * CPU cost per Web Push message: Herald's path (payload fit, RFC 8291 encryption, cached VAPID
 * token, keep-alive undici pool) against the `web-push` package, in the same run, on the same
 * machine, with the same payload and the same subscription.
 *
 *   npm run bench:webpush            (builds dist/, then runs this file)
 *   node bench/webpush-cost.mjs [--messages N] [--concurrency C] [--rounds R]
 *
 * Two measurements, each as CPU time (user + system) of this process divided by messages:
 *   prepare  building the request only: Herald's fitPayload + encryptPayload + VapidSigner +
 *            pushHeaders, against web-push's generateRequestDetails;
 *   send     full sends to a local HTTPS push-service sink that answers 201: WebPushChannel#send
 *            against web-push's sendNotification (with a keep-alive https.Agent, so both reuse
 *            connections and neither pays a TLS handshake per message).
 * The sink runs in its own process, so its CPU is not counted. Rounds alternate the two sides
 * and the median round is reported. web-push uses node's https module, so the sink's
 * self-signed certificate is trusted via NODE_EXTRA_CA_CERTS: the script re-runs itself with it.
 */
import { fork, spawnSync } from 'node:child_process';
import { createECDH, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSelfSignedCertificate } from './lib/certificate.mjs';
import { numberOption } from './lib/util.mjs';

const SELF = fileURLToPath(import.meta.url);
const DIST = new URL('../dist/src/channels/webpush/', import.meta.url);

// ---- The sink: a separate process, so its CPU stays out of the measurement. ----
if (process.argv[2] === '--sink') {
  const dir = process.argv[3];
  const server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')), keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(201, { location: '/m/1' });
      res.end();
    });
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('disconnect', () => process.exit(0));
} else if (!process.env.HERALD_BENCH_CERTS) {
  // ---- First run: make a throwaway certificate for 127.0.0.1, then run again trusting it. ----
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
  try {
    writeSelfSignedCertificate(dir);
    const run = spawnSync(process.execPath, [SELF, ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, HERALD_BENCH_CERTS: dir, NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem') },
    });
    process.exitCode = run.status ?? 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  await measure(process.env.HERALD_BENCH_CERTS);
}

async function measure(certDir) {
  const messages = numberOption('messages', 4000);
  const concurrency = numberOption('concurrency', 50);
  const rounds = numberOption('rounds', 5);

  const { default: webpush } = await import('web-push');
  const { encryptPayload, decodeReceiverKeys } = await import(new URL('crypto.js', DIST));
  const { fitPayload } = await import(new URL('payload.js', DIST));
  const { VapidSigner } = await import(new URL('vapid.js', DIST));
  const { WebPushChannel, pushHeaders, urgencyFor, ttlSecondsFor } = await import(new URL('channel.js', DIST));

  const sink = fork(SELF, ['--sink', certDir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port } = await new Promise((resolve) => sink.once('message', resolve));
  const origin = `https://127.0.0.1:${port}`;

  const vapidKeys = webpush.generateVAPIDKeys();
  const vapid = { publicKey: vapidKeys.publicKey, privateKey: vapidKeys.privateKey, subject: 'mailto:bench@example.org' };
  const browser = createECDH('prime256v1');
  browser.generateKeys();
  const subscription = {
    endpoint: `${origin}/push/bench-subscription`,
    keys: { p256dh: browser.getPublicKey('base64url'), auth: randomBytes(16).toString('base64url') },
  };
  const message = {
    id: 'bench-0001',
    title: 'New message',
    message: 'Alice: are we still on for 3 pm? '.repeat(4),
    priority: 5,
    url: 'https://chat.example.org/room/42',
    category: 'chat',
    data: { roomId: 42, sender: 'alice' },
    collapseKey: 'room-42',
    expiresAt: Date.now() + 3_600_000,
  };
  const payload = fitPayload(message).json;
  const webpushOptions = (agent) => ({
    vapidDetails: { subject: vapid.subject, publicKey: vapid.publicKey, privateKey: vapid.privateKey },
    TTL: ttlSecondsFor(message.expiresAt, Date.now()),
    urgency: urgencyFor(message.priority),
    topic: message.collapseKey,
    contentEncoding: 'aes128gcm',
    ...(agent ? { agent } : {}),
  });

  // --- the sides being compared ---
  const signer = new VapidSigner(vapid);
  const receiver = decodeReceiverKeys(subscription.keys.p256dh, subscription.keys.auth);
  const heraldPrepare = () => {
    const body = encryptPayload(Buffer.from(fitPayload(message).json, 'utf8'), receiver);
    const headers = pushHeaders(message, Date.now());
    headers.authorization = signer.authorization(origin);
    return body.length + headers.authorization.length;
  };
  const webpushPrepare = () => webpush.generateRequestDetails(subscription, payload, webpushOptions()).body.length;

  const channel = new WebPushChannel({ vapid, timeoutMs: 10_000, connections: concurrency, allowPrivateEndpoints: true });
  const target = { id: 'bench', subscription };
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const heraldSend = () => channel.send(message, target, {});
  const webpushSend = () => webpush.sendNotification(subscription, payload, webpushOptions(agent));

  // --- measurement ---
  async function run(count, task, parallel) {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next++ < count) await task();
      }),
    );
    const wallMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    return { cpuUsPerMessage: (cpu.user + cpu.system) / count, perSecond: (count / wallMs) * 1000 };
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

  async function compare(label, herald, other, parallel) {
    await run(Math.min(500, messages), herald, parallel); // warm-up: JIT, pools, TLS sessions
    await run(Math.min(500, messages), other, parallel);
    const results = { herald: [], webpush: [] };
    for (let round = 0; round < rounds; round++) {
      results.herald.push(await run(messages, herald, parallel));
      results.webpush.push(await run(messages, other, parallel));
    }
    const h = { cpu: median(results.herald.map((r) => r.cpuUsPerMessage)), rate: median(results.herald.map((r) => r.perSecond)) };
    const w = { cpu: median(results.webpush.map((r) => r.cpuUsPerMessage)), rate: median(results.webpush.map((r) => r.perSecond)) };
    console.log(
      `${label.padEnd(8)} herald ${h.cpu.toFixed(1).padStart(7)} µs CPU/msg ${Math.round(h.rate).toString().padStart(6)} msg/s` +
        `   web-push ${w.cpu.toFixed(1).padStart(7)} µs CPU/msg ${Math.round(w.rate).toString().padStart(6)} msg/s` +
        `   web-push/herald CPU = ${(w.cpu / h.cpu).toFixed(2)}×`,
    );
    return { herald: h, webpush: w };
  }

  console.log(
    `node ${process.version}, ${messages} messages × ${rounds} rounds (median), payload ${Buffer.byteLength(payload)} bytes, send concurrency ${concurrency}`,
  );
  try {
    await compare('prepare', heraldPrepare, webpushPrepare, 1);
    await compare('send', heraldSend, webpushSend, concurrency);
    console.log(`VAPID tokens signed by Herald: ${signer.signed + channel.vapid.signed} (one per audience, reused); web-push signs one per message`);
  } finally {
    await channel.close();
    agent.destroy();
    sink.disconnect();
  }
}
