/**
 * RFC 8291 message encryption for Web Push, `aes128gcm` content coding (RFC 8188), one record.
 *
 * Per message the sender makes a fresh P-256 key pair and a random 16-byte salt; ECDH with the
 * browser's `p256dh` key, mixed with its `auth` secret, gives a content key and a nonce, and the
 * whole payload is sealed as a single AES-128-GCM record. The body on the wire is
 *   salt (16) | record size (4, big-endian) | key id length (1) | sender public key (65) | record
 * and the record is the ciphertext of `plaintext | 0x02` (0x02 marks the last record, with no
 * padding after it) followed by the 16-byte tag.
 *
 * Only node:crypto is used. The salt and the sender key can be injected so that the RFC's
 * Appendix A example can be reproduced byte for byte.
 */
import { createCipheriv, createECDH, createHmac, randomBytes, type ECDH } from 'node:crypto';
import { attemptCode } from '../../codes.js';

/** Record size written in the header. One record must hold the whole message. */
export const RECORD_SIZE = 4096;
const SALT_BYTES = 16;
const PUBLIC_KEY_BYTES = 65;
const AUTH_SECRET_BYTES = 16;
const TAG_BYTES = 16;
/** salt + rs + idlen + keyid */
export const HEADER_BYTES = SALT_BYTES + 4 + 1 + PUBLIC_KEY_BYTES;
/** Push services must accept bodies of 4096 bytes (RFC 8030 §7.2); larger ones may be refused. */
export const MAX_BODY_BYTES = 4096;
/** Largest plaintext whose encrypted body still fits MAX_BODY_BYTES (header, delimiter, tag). */
export const MAX_PLAINTEXT_BYTES = MAX_BODY_BYTES - HEADER_BYTES - 1 - TAG_BYTES;

const LAST_RECORD_DELIMITER = Buffer.from([0x02]);
const KEY_INFO_LABEL = Buffer.from('WebPush: info\0', 'latin1');
const CEK_INFO = Buffer.from('Content-Encoding: aes128gcm\0', 'latin1');
const NONCE_INFO = Buffer.from('Content-Encoding: nonce\0', 'latin1');
const ONE = Buffer.from([0x01]);

/** The browser's side of a subscription, decoded: `keys.p256dh` and `keys.auth`. */
export interface ReceiverKeys {
  /** Uncompressed P-256 point, 65 bytes starting with 0x04. */
  publicKey: Buffer;
  /** 16-byte authentication secret. */
  authSecret: Buffer;
}

export interface EncryptOptions {
  /** 16 bytes; random when absent. Injected only to reproduce known vectors. */
  salt?: Buffer;
  /** 32-byte private key of the sender's one-time pair; a fresh pair when absent. */
  senderPrivateKey?: Buffer;
}

/** A subscription key no browser could have made; the delivery fails with this code. */
export class PushKeyError extends Error {
  readonly code = attemptCode.HERALD_WEBPUSH_BAD_KEYS;
  constructor(message: string) {
    super(message);
    this.name = 'PushKeyError';
  }
}

/**
 * Decodes a subscription's base64url keys, checking their shape. A key the browser could not have
 * produced is refused here rather than surfacing as an obscure ECDH failure later.
 */
export function decodeReceiverKeys(p256dh: string, auth: string): ReceiverKeys {
  const publicKey = Buffer.from(p256dh, 'base64url');
  const authSecret = Buffer.from(auth, 'base64url');
  if (publicKey.length !== PUBLIC_KEY_BYTES || publicKey[0] !== 0x04) {
    throw new PushKeyError('keys.p256dh must be an uncompressed P-256 public key (65 bytes)');
  }
  if (authSecret.length !== AUTH_SECRET_BYTES) throw new PushKeyError('keys.auth must be 16 bytes');
  return { publicKey, authSecret };
}

/** HKDF-Extract (RFC 5869): PRK = HMAC-SHA-256(salt, ikm). */
function extract(salt: Buffer, ikm: Buffer): Buffer {
  return createHmac('sha256', salt).update(ikm).digest();
}

/**
 * HKDF-Expand for outputs of at most one hash length, which is all RFC 8291 needs: T(1) =
 * HMAC(prk, info | 0x01), truncated.
 */
function expand(prk: Buffer, info: Buffer, length: number): Buffer {
  return createHmac('sha256', prk).update(info).update(ONE).digest().subarray(0, length);
}

/** The content key and nonce of one message (RFC 8291 §3.3, §3.4; RFC 8188 §2.2, §2.3). */
export function deriveContentKeys(
  ecdhSecret: Buffer,
  authSecret: Buffer,
  receiverPublicKey: Buffer,
  senderPublicKey: Buffer,
  salt: Buffer,
): { key: Buffer; nonce: Buffer } {
  // The auth secret binds the key to this subscription: knowing only the public key (which the
  // push service does) is not enough to derive it.
  const keyInfo = Buffer.concat([KEY_INFO_LABEL, receiverPublicKey, senderPublicKey]);
  const ikm = expand(extract(authSecret, ecdhSecret), keyInfo, 32);
  const prk = extract(salt, ikm);
  return { key: expand(prk, CEK_INFO, 16), nonce: expand(prk, NONCE_INFO, 12) };
}

function senderKeyPair(privateKey?: Buffer): ECDH {
  const ecdh = createECDH('prime256v1');
  if (privateKey) ecdh.setPrivateKey(privateKey);
  else ecdh.generateKeys();
  return ecdh;
}

/**
 * Encrypts `plaintext` for one subscription. Throws PushKeyError when the receiver's key is not
 * a point on the curve, and RangeError when the plaintext cannot fit one record.
 */
export function encryptPayload(plaintext: Buffer, receiver: ReceiverKeys, options: EncryptOptions = {}): Buffer {
  // One record holds plaintext, the delimiter and the tag; the whole body must also fit 4096.
  if (plaintext.length > MAX_PLAINTEXT_BYTES) {
    throw new RangeError(`plaintext of ${plaintext.length} bytes exceeds ${MAX_PLAINTEXT_BYTES}`);
  }
  const salt = options.salt ?? randomBytes(SALT_BYTES);
  const sender = senderKeyPair(options.senderPrivateKey);
  const senderPublicKey = sender.getPublicKey();
  let ecdhSecret: Buffer;
  try {
    ecdhSecret = sender.computeSecret(receiver.publicKey);
  } catch {
    throw new PushKeyError('keys.p256dh is not a valid P-256 public key');
  }
  const { key, nonce } = deriveContentKeys(ecdhSecret, receiver.authSecret, receiver.publicKey, senderPublicKey, salt);

  const header = Buffer.alloc(HEADER_BYTES);
  salt.copy(header, 0);
  header.writeUInt32BE(RECORD_SIZE, SALT_BYTES);
  header.writeUInt8(PUBLIC_KEY_BYTES, SALT_BYTES + 4);
  senderPublicKey.copy(header, SALT_BYTES + 5);

  const cipher = createCipheriv('aes-128-gcm', key, nonce);
  const sealed = [cipher.update(plaintext), cipher.update(LAST_RECORD_DELIMITER), cipher.final(), cipher.getAuthTag()];
  return Buffer.concat([header, ...sealed]);
}
