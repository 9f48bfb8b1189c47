import { createECDH, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeReceiverKeys, encryptPayload, MAX_PLAINTEXT_BYTES, PushKeyError } from '../../src/channels/webpush/crypto.js';
import { decryptPushBody } from '../helpers/push-service.js';

const b64 = (text: string) => Buffer.from(text, 'base64url');

/** RFC 8291 Appendix A, every value as printed there (line breaks removed). */
const APPENDIX_A = {
  plaintext: 'When I grow up, I want to be a watermelon',
  senderPrivateKey: 'yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw',
  senderPublicKey: 'BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8',
  receiverPrivateKey: 'q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94',
  receiverPublicKey: 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
  salt: 'DGv6ra1nlYgDCS1FRnbzlw',
  authSecret: 'BTBZMqHH6r4Tts7J_aSIgg',
  body: 'DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN',
};

function newBrowser() {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { privateKey: ecdh.getPrivateKey(), keys: { publicKey: ecdh.getPublicKey(), authSecret: randomBytes(16) } };
}

describe('RFC 8291 aes128gcm encryption', () => {
  it('reproduces the Appendix A message byte for byte', () => {
    const body = encryptPayload(Buffer.from(APPENDIX_A.plaintext), decodeReceiverKeys(APPENDIX_A.receiverPublicKey, APPENDIX_A.authSecret), {
      salt: b64(APPENDIX_A.salt),
      senderPrivateKey: b64(APPENDIX_A.senderPrivateKey),
    });
    expect(body.toString('base64url')).toBe(APPENDIX_A.body);
    // The header parts, as the appendix spells them out.
    expect(body.subarray(0, 16)).toEqual(b64(APPENDIX_A.salt));
    expect(body.readUInt32BE(16)).toBe(4096);
    expect(body[20]).toBe(65);
    expect(body.subarray(21, 86)).toEqual(b64(APPENDIX_A.senderPublicKey));
  });

  it('the test double decrypts the Appendix A message with the receiver private key', () => {
    const plaintext = decryptPushBody(b64(APPENDIX_A.body), b64(APPENDIX_A.receiverPrivateKey), b64(APPENDIX_A.authSecret));
    expect(plaintext.toString()).toBe(APPENDIX_A.plaintext);
  });

  it('uses a fresh salt and sender key for every message', () => {
    const browser = newBrowser();
    const a = encryptPayload(Buffer.from('same'), browser.keys);
    const b = encryptPayload(Buffer.from('same'), browser.keys);
    expect(a.subarray(0, 16)).not.toEqual(b.subarray(0, 16));
    expect(a.subarray(21, 86)).not.toEqual(b.subarray(21, 86));
    expect(decryptPushBody(a, browser.privateKey, browser.keys.authSecret).toString()).toBe('same');
    expect(decryptPushBody(b, browser.privateKey, browser.keys.authSecret).toString()).toBe('same');
  });

  it('fills exactly 4096 bytes at the largest plaintext and refuses one byte more', () => {
    const browser = newBrowser();
    const largest = randomBytes(MAX_PLAINTEXT_BYTES);
    const body = encryptPayload(largest, browser.keys);
    expect(body.length).toBe(4096);
    expect(decryptPushBody(body, browser.privateKey, browser.keys.authSecret)).toEqual(largest);
    expect(() => encryptPayload(randomBytes(MAX_PLAINTEXT_BYTES + 1), browser.keys)).toThrow(RangeError);
  });

  it('a wrong auth secret makes the message undecryptable', () => {
    const browser = newBrowser();
    const body = encryptPayload(Buffer.from('secret'), browser.keys);
    expect(() => decryptPushBody(body, browser.privateKey, randomBytes(16))).toThrow();
  });

  it('refuses malformed subscription keys', () => {
    const browser = newBrowser();
    const auth = browser.keys.authSecret.toString('base64url');
    expect(() => decodeReceiverKeys(browser.keys.publicKey.subarray(0, 33).toString('base64url'), auth)).toThrow(PushKeyError);
    expect(() => decodeReceiverKeys(browser.keys.publicKey.toString('base64url'), 'c2hvcnQ')).toThrow(PushKeyError);
    // 65 bytes starting with 0x04 but not a point on the curve.
    const offCurve = Buffer.alloc(65, 1);
    offCurve[0] = 4;
    expect(() => encryptPayload(Buffer.from('x'), decodeReceiverKeys(offCurve.toString('base64url'), auth))).toThrow(PushKeyError);
  });
});
