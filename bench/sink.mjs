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
 *
 * The two HTTP sinks answer with a minimal HTTP/1.1 responder on a plain (or TLS) socket rather
 * than node:http: a real provider runs on its own machine, so a sink should take as little as
 * possible of the cores it shares with the contenders it stands in for, and node:http takes
 * several times the responder's CPU per request (figures in docs/performance.md).
 */
import { createServer as createTcpServer } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
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

const HEAD_END = Buffer.from('\r\n\r\n');
/** A request bigger than this is not a notification: the connection is dropped. */
const MAX_REQUEST_BYTES = 1024 * 1024;
const REASONS = { 200: 'OK', 201: 'Created', 400: 'Bad Request' };

/** The request line (`METHOD /path`) and headers (names in lower case) of a raw request head. */
function parseHead(head) {
  const lines = head.split('\r\n');
  const headers = {};
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    if (colon > 0) headers[lines[i].slice(0, colon).trim().toLowerCase()] = lines[i].slice(colon + 1).trim();
  }
  return { line: lines[0].slice(0, lines[0].lastIndexOf(' HTTP/')), headers };
}

/**
 * Serves HTTP/1.1 on each connection: requests with a Content-Length body (what undici, fetch and
 * https.request send for a known body), several per read when a client pipelines; every answer
 * of one read goes out in one write. A chunked or oversized request is recorded as a problem,
 * answered 400 and its connection closed, so a client the sink cannot read fails the run
 * visibly instead of hanging it.
 */
function http1Responder(status, answer) {
  return (socket) => {
    socket.setNoDelay(true);
    let buffered = Buffer.alloc(0);
    let refused = false;
    socket.on('data', (chunk) => {
      if (refused) return;
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      let out = '';
      for (;;) {
        const headEnd = buffered.indexOf(HEAD_END);
        if (headEnd < 0) break;
        const request = parseHead(buffered.latin1Slice(0, headEnd));
        const length = Number(request.headers['content-length'] ?? 0);
        const unreadable = request.headers['transfer-encoding']
          ? `Transfer-Encoding ${request.headers['transfer-encoding']} (the sink reads Content-Length bodies)`
          : !Number.isSafeInteger(length) || length < 0
            ? `unreadable Content-Length ${request.headers['content-length']}`
            : headEnd + 4 + length > MAX_REQUEST_BYTES
              ? 'request over 1 MiB'
              : undefined;
        if (unreadable) {
          refused = true;
          received.push({ at: nowMs(), raw: Buffer.alloc(0), problem: unreadable });
          socket.end(`${out}HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
          return;
        }
        const end = headEnd + 4 + length;
        if (buffered.length < end) break;
        received.push({ at: nowMs(), raw: buffered.subarray(headEnd + 4, end), problem: answer.check(request) });
        answered++;
        const body = answer.body(answered);
        let lines = `HTTP/1.1 ${status} ${REASONS[status]}\r\n`;
        for (const [name, value] of Object.entries(answer.headers(answered))) lines += `${name}: ${value}\r\n`;
        out += `${lines}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
        buffered = buffered.subarray(end);
      }
      if (buffered.length > MAX_REQUEST_BYTES) socket.destroy();
      else if (out) socket.write(out);
    });
    socket.on('error', () => {});
  };
}

function startGotify() {
  server = createTcpServer(
    http1Responder(200, {
      check: ({ line, headers }) => (line !== 'POST /message' ? line : headers['x-gotify-key'] ? undefined : 'no X-Gotify-Key'),
      headers: () => ({ 'content-type': 'application/json' }),
      body: (n) => `{"id":${n},"appid":1,"priority":5,"date":"2024-01-01T00:00:00Z"}`,
    }),
  );
  return server;
}

function startPush({ key, cert, privateKey, auth }) {
  pushKeys = { privateKey: Buffer.from(privateKey, 'base64url'), auth: Buffer.from(auth, 'base64url') };
  server = createTlsServer(
    { key, cert },
    http1Responder(201, {
      check: ({ line, headers }) =>
        !line.startsWith('POST ')
          ? line
          : !/^vapid t=[^,]+, ?k=/.test(headers.authorization ?? '')
            ? 'no VAPID authorization'
            : headers['content-encoding'] !== 'aes128gcm'
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
    // Connections stay open until the client closes them, as a provider's keep-alive would.
    const srv = kind === 'gotify' ? startGotify() : kind === 'push' ? startPush(options) : startSmtp();
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
