import { describe, expect, it } from 'vitest';
import { generateVapidKeys } from '../../src/channels/webpush/vapid.js';
import { enabledChannels, loadConfig, weakSecretProblem } from '../../src/config.js';
import { DEV_VAPID_SUBJECT, firstRunDecision, newDevKeys, withDevKeys } from '../../src/run/first-run.js';

const VAPID = generateVapidKeys();
const VAPID_ENV = { VAPID_PUBLIC_KEY: VAPID.publicKey, VAPID_PRIVATE_KEY: VAPID.privateKey, VAPID_SUBJECT: 'mailto:ops@example.org' };
const KEYS_ENV = { HERALD_API_KEYS: 'a1b2c3d4e5f6a7b8c9d0e1f2:publish' };

describe('the first-run decision', () => {
  // The decision reads the configuration loadConfig makes of each environment, as `herald start` does.
  const cases: [string, Record<string, string>, ReturnType<typeof firstRunDecision>][] = [
    ['nothing set', {}, { useDevKeys: true }],
    ['NODE_ENV=development', { NODE_ENV: 'development' }, { useDevKeys: true }],
    ['NODE_ENV=test', { NODE_ENV: 'test' }, { useDevKeys: true }],
    ['HERALD_API_KEYS set but blank (read as unset)', { HERALD_API_KEYS: '  ' }, { useDevKeys: true }],
    ['other settings only (a channel, a port)', { GOTIFY_URL: 'https://gotify.example.org', HERALD_PORT: '9000' }, { useDevKeys: true }],
    ['NODE_ENV=production', { NODE_ENV: 'production' }, { useDevKeys: false, because: 'production' }],
    ['NODE_ENV=Production (any case)', { NODE_ENV: 'Production' }, { useDevKeys: false, because: 'production' }],
    [
      'production with everything unset but a channel',
      { NODE_ENV: 'production', SMTP_URL: 'smtps://mail.example.org', MAIL_FROM: 'a@example.org' },
      { useDevKeys: false, because: 'production' },
    ],
    ['only HERALD_API_KEYS set', KEYS_ENV, { useDevKeys: false, because: 'api-keys-set' }],
    ['only the VAPID variables set', VAPID_ENV, { useDevKeys: false, because: 'vapid-set' }],
    ['both set', { ...KEYS_ENV, ...VAPID_ENV }, { useDevKeys: false, because: 'api-keys-set' }],
    ['production and both set', { NODE_ENV: 'production', ...KEYS_ENV, ...VAPID_ENV }, { useDevKeys: false, because: 'production' }],
  ];
  it.each(cases)('%s', (_name, env, decision) => {
    expect(firstRunDecision(loadConfig(env).config)).toEqual(decision);
  });

  it('never gets a VAPID variable set alone: the configuration refuses it first', () => {
    for (const name of Object.keys(VAPID_ENV)) {
      expect(() => loadConfig({ [name]: VAPID_ENV[name as keyof typeof VAPID_ENV] })).toThrow(/VAPID_/);
    }
  });
});

describe('dev keys', () => {
  it('are strong secrets and a P-256 pair that the configuration accepts as they are', () => {
    const keys = newDevKeys();
    expect(weakSecretProblem(keys.publishKey)).toBeNull();
    expect(weakSecretProblem(keys.adminKey)).toBeNull();
    expect(keys.publishKey).not.toBe(keys.adminKey);
    expect(keys.vapid.subject).toBe(DEV_VAPID_SUBJECT);
    const { config } = loadConfig({
      HERALD_API_KEYS: `${keys.publishKey}:publish,${keys.adminKey}:admin`,
      VAPID_PUBLIC_KEY: keys.vapid.publicKey,
      VAPID_PRIVATE_KEY: keys.vapid.privateKey,
      VAPID_SUBJECT: keys.vapid.subject,
    });
    expect(config.vapid).toEqual(keys.vapid);
  });

  it('are new each time', () => {
    const [a, b] = [newDevKeys(), newDevKeys()];
    expect(a.adminKey).not.toBe(b.adminKey);
    expect(a.publishKey).not.toBe(b.publishKey);
    expect(a.vapid.privateKey).not.toBe(b.vapid.privateKey);
  });

  it('become the API keys and the VAPID settings, which turns Web Push on and leaves the rest alone', () => {
    const { config } = loadConfig({ HERALD_ALLOW_PRIVATE_ENDPOINTS: '0', HERALD_PORT: '9001' });
    const keys = newDevKeys();
    const withKeys = withDevKeys(config, keys);
    expect(withKeys.apiKeys).toEqual([
      { secret: keys.publishKey, scope: 'publish' },
      { secret: keys.adminKey, scope: 'admin' },
    ]);
    expect(withKeys.vapid).toEqual(keys.vapid);
    expect(enabledChannels(withKeys)).toEqual(['webpush', 'inbox']);
    expect({ ...withKeys, apiKeys: config.apiKeys, vapid: config.vapid }).toEqual(config);
    expect(withKeys.allowPrivateEndpoints).toBe(false);
    expect(Object.isFrozen(withKeys) && Object.isFrozen(withKeys.apiKeys) && Object.isFrozen(withKeys.vapid)).toBe(true);
  });
});
