/**
 * The messages between a worker's event loop and a Web Push encryption thread. A batch goes out
 * as plain strings (cheap to copy) and comes back as ONE ArrayBuffer holding every encrypted
 * body, transferred rather than copied, plus where each body starts. A body that could not be
 * made travels as a failure naming why, so the event loop can raise the same error the inline
 * path raises.
 */
import { decodeReceiverKeys, encryptPayload, PushKeyError } from './crypto.js';

/** One message to encrypt: the UTF-8 payload and the subscription's base64url keys. */
export interface EncryptRequest {
  payload: string;
  p256dh: string;
  auth: string;
}

/** Why a body could not be made: the subscription's keys, the payload's size, anything else. */
export interface EncryptFailure {
  failed: 'keys' | 'size' | 'other';
  message: string;
}

export interface BodySpan {
  offset: number;
  length: number;
}

export interface RequestBatch {
  id: number;
  requests: EncryptRequest[];
}

export interface EncryptedBatch {
  id: number;
  bodies: ArrayBuffer;
  results: (BodySpan | EncryptFailure)[];
}

/** Encrypts one request; throws PushKeyError or RangeError as encryptPayload does. */
export function encryptRequest(request: EncryptRequest): Buffer {
  const keys = decodeReceiverKeys(request.p256dh, request.auth);
  return encryptPayload(Buffer.from(request.payload, 'utf8'), keys);
}

function failureOf(err: unknown): EncryptFailure {
  if (err instanceof PushKeyError) return { failed: 'keys', message: err.message };
  if (err instanceof RangeError) return { failed: 'size', message: err.message };
  return { failed: 'other', message: err instanceof Error ? err.message : String(err) };
}

/** The thread's side: every request of a batch, bodies packed into one buffer. */
export function encryptBatch(batch: RequestBatch): EncryptedBatch {
  const made = batch.requests.map((request): Buffer | EncryptFailure => {
    try {
      return encryptRequest(request);
    } catch (err) {
      return failureOf(err);
    }
  });
  const total = made.reduce((sum, body) => sum + (Buffer.isBuffer(body) ? body.length : 0), 0);
  // A fresh ArrayBuffer of its own: Buffer.alloc of small sizes can come from the shared pool,
  // which must not be transferred away.
  const bodies = new ArrayBuffer(total);
  const view = new Uint8Array(bodies);
  let offset = 0;
  const results = made.map((body) => {
    if (!Buffer.isBuffer(body)) return body;
    view.set(body, offset);
    const span = { offset, length: body.length };
    offset += body.length;
    return span;
  });
  return { id: batch.id, bodies, results };
}

/** The event loop's side: each request's body (a view, not a copy) or its failure. */
export function unpackBatch(batch: EncryptedBatch): (Buffer | EncryptFailure)[] {
  return batch.results.map((result) => ('failed' in result ? result : Buffer.from(batch.bodies, result.offset, result.length)));
}

/** The error the inline path would have thrown for this failure. */
export function failureError(failure: EncryptFailure): Error {
  if (failure.failed === 'keys') return new PushKeyError(failure.message);
  if (failure.failed === 'size') return new RangeError(failure.message);
  return new Error(`Web Push encryption failed: ${failure.message}`);
}
