import { execFileSync } from 'node:child_process';
import { createECDH, createPrivateKey, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateVapidKeys, vapidKeysOf, VapidSigner } from '../../src/channels/webpush/vapid.js';
import { loadConfig } from '../../src/config.js';
import { verifyVapid } from '../helpers/push-service.js';

const SUBJECT = 'mailto:ops@example.org';

/** The pair passes Herald's own start-up check and signs a VAPID token a push service accepts. */
function expectUsable(keys: { publicKey: string; privateKey: string }): void {
  expect(Buffer.from(keys.publicKey, 'base64url')).toHaveLength(65);
  expect(Buffer.from(keys.publicKey, 'base64url')[0]).toBe(0x04);
  expect(Buffer.from(keys.privateKey, 'base64url')).toHaveLength(32);
  const { config } = loadConfig({ VAPID_PUBLIC_KEY: keys.publicKey, VAPID_PRIVATE_KEY: keys.privateKey, VAPID_SUBJECT: SUBJECT });
  expect(config.vapid).toEqual({ ...keys, subject: SUBJECT });
  const header = new VapidSigner(config.vapid!).authorization('https://push.example.net');
  expect(verifyVapid(header, keys.publicKey, 'https://push.example.net').problems).toEqual([]);
}

/** A P-256 private key whose scalar starts with `zeros` zero bytes. */
function keyWithLeadingZeros(zeros: number) {
  const d = Buffer.concat([Buffer.alloc(zeros), randomBytes(32 - zeros)]);
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const point = ecdh.getPublicKey();
  const key = createPrivateKey({
    format: 'jwk',
    key: { kty: 'EC', crv: 'P-256', d: d.toString('base64url'), x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') },
  });
  return { key, d, point };
}

describe('VAPID key pairs made with node:crypto', () => {
  it('are new each time, the right sizes, accepted by loadConfig, and sign tokens that verify', () => {
    const pairs = Array.from({ length: 20 }, generateVapidKeys);
    expect(new Set(pairs.map((p) => p.privateKey)).size).toBe(20);
    for (const pair of pairs) expectUsable(pair);
  });

  it('keep a private key with leading zero bytes at 32 bytes, and the public key its own', () => {
    const { key, d, point } = keyWithLeadingZeros(2);
    const keys = vapidKeysOf(key);
    expect(Buffer.from(keys.privateKey, 'base64url').equals(d)).toBe(true);
    expect(Buffer.from(keys.publicKey, 'base64url').equals(point)).toBe(true);
    expectUsable(keys);
  });

  it('`herald vapid` prints a usable pair as two env lines', () => {
    const output = execFileSync(process.execPath, ['dist/src/cli.js', 'vapid'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    const match = /^VAPID_PUBLIC_KEY=([\w-]+)\nVAPID_PRIVATE_KEY=([\w-]+)\n$/.exec(output);
    expect(match, output).not.toBeNull();
    expectUsable({ publicKey: match![1]!, privateKey: match![2]! });
  });

  it('need no web-push at run time: not a production dependency, imported by no shipped code', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    expect(pkg.dependencies['web-push']).toBeUndefined();
    const importers = ['src', 'workers']
      .flatMap(sourceFiles)
      .filter((file) => /from ['"]web-push['"]|import\(['"]web-push['"]\)/.test(readFileSync(file, 'utf8')));
    expect(importers).toEqual([]);
  });
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}
