/**
 * Provider sinks, one per process so that their CPU does not share an event loop with the code
 * being measured:
 *   gotify — HTTP, answers `POST /message` with 200 and a Gotify-like message JSON;
 *   push   — HTTPS push service, answers 201 with a Location, like FCM or Mozilla autopush;
 *   smtp   — smtp-server accepting every message (no TLS, no auth).
 * Each records the receive time and the raw request. Parsing (and, for push, decrypting) waits
 * until the orchestrator takes the records, so the sink spends as little CPU as possible while a
 * measurement runs. The notification id is found by pattern (`bench.<tag>.<n>`) in the Gotify
 * JSON, the decrypted push payload, or the mail (subject and text).
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createDecipheriv, createECDH, hkdfSync } from 'node:crypto';
import { SMTPServer } from 'smtp-server';
import { ID_PATTERN, nowMs, serveParent } from './lib/util.mjs';

/** Received requests: receive time and raw bytes, until taken. */
let received = [];
let server;
let pushKeys;
let answered = 0;

/** Only the start of a mail is kept: the subject and the text part carry the id. */
const MAIL_KEEP_BYTES = 8192;

function listen(srv) {
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv.address().port));
  });
}

function httpHandler(status, answer) {
  return (req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const at = nowMs();
      const problem = answer.check?.(req);
      received.push({ at, raw: Buffer.concat(chunks), problem });
      answered++;
      res.writeHead(status, answer.headers(answered));
      res.end(answer.body(answered));
    });
  };
}

function startGotify() {
  server = createHttpServer(
    httpHandler(200, {
      check: (req) => (req.method !== 'POST' || req.url !== '/message' ? `${req.method} ${req.url}` : req.headers['x-gotify-key'] ? undefined : 'no X-Gotify-Key'),
      headers: () => ({ 'content-type': 'application/json' }),
      body: (n) => `{"id":${n},"appid":1,"priority":5,"date":"2024-01-01T00:00:00Z"}`,
    }),
  );
  return server;
}

function startPush({ key, cert, privateKey, auth }) {
  pushKeys = { privateKey: Buffer.from(privateKey, 'base64url'), auth: Buffer.from(auth, 'base64url') };
  server = createHttpsServer(
    { key, cert },
    httpHandler(201, {
      check: (req) =>
        req.method !== 'POST'
          ? `${req.method} ${req.url}`
          : !/^vapid t=[^,]+, ?k=/.test(req.headers.authorization ?? '')
            ? 'no VAPID authorization'
            : req.headers['content-encoding'] !== 'aes128gcm'
              ? 'content-encoding is not aes128gcm'
              : undefined,
      headers: (n) => ({ location: `/m/${n}` }),
      body: () => '',
    }),
  );
  return server;
}

function startSmtp() {
  server = new SMTPServer({
    secure: false,
    authOptional: true,
    // Plain SMTP on loopback: no STARTTLS offer, so clients do not upgrade.
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    maxClients: 200,
    size: 1024 * 1024,
    onData(stream, _session, callback) {
      const chunks = [];
      let kept = 0;
      stream.on('data', (chunk) => {
        if (kept < MAIL_KEEP_BYTES) chunks.push(chunk);
        kept += chunk.length;
      });
      stream.on('end', () => {
        received.push({ at: nowMs(), raw: Buffer.concat(chunks) });
        callback(null, 'queued');
      });
    },
  });
  server.on('error', () => {});
  return server.server;
}

/**
 * RFC 8291 `aes128gcm`, one record: the key id is the sender's ephemeral P-256 key; ECDH with the
 * subscription's private key and the auth secret give the content key and nonce through HKDF.
 */
function decryptPush(body) {
  const salt = body.subarray(0, 16);
  const keyIdLength = body[20];
  const senderKey = body.subarray(21, 21 + keyIdLength);
  const sealed = body.subarray(21 + keyIdLength);
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(pushKeys.privateKey);
  const info = Buffer.concat([Buffer.from('WebPush: info\0'), ecdh.getPublicKey(), senderKey]);
  const ikm = hkdfSync('sha256', ecdh.computeSecret(senderKey), pushKeys.auth, info, 32);
  const derive = (label, length) => Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(`Content-Encoding: ${label}\0`), length));
  const decipher = createDecipheriv('aes-128-gcm', derive('aes128gcm', 16), derive('nonce', 12));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  const padded = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
  // The plaintext ends with the last-record delimiter 0x02, then zero padding.
  return padded.subarray(0, padded.lastIndexOf(2)).toString('utf8');
}

function readId(kind, raw) {
  const text = kind === 'push' ? decryptPush(raw) : raw.toString('utf8');
  return ID_PATTERN.exec(text)?.[0];
}

let kind;

serveParent({
  async start(sinkKind, options = {}) {
    kind = sinkKind;
    const srv = kind === 'gotify' ? startGotify() : kind === 'push' ? startPush(options) : startSmtp();
    // Providers keep connections open; a short keep-alive would make clients reconnect mid-run.
    if (kind !== 'smtp') srv.keepAliveTimeout = 120_000;
    return { port: await listen(srv) };
  },
  count: () => received.length,
  /** Hands over what was received since the last take, with ids read out, and forgets it. */
  take() {
    const batch = received;
    received = [];
    const ids = [];
    const times = new Float64Array(batch.length);
    let problems = 0;
    let firstProblem;
    batch.forEach(({ at, raw, problem }, i) => {
      times[i] = at;
      let id;
      try {
        id = problem ? undefined : readId(kind, raw);
      } catch (err) {
        problem = `unreadable: ${err.message}`;
      }
      if (!id) {
        problems++;
        firstProblem ??= problem ?? 'no benchmark id in the request';
      }
      ids.push(id ?? '');
    });
    return { ids, times, problems, firstProblem };
  },
});
