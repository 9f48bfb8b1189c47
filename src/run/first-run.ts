/**
 * First run: `herald start` on a developer's machine with nothing configured makes a publish key,
 * an admin key and a VAPID pair, so that the API answers and Web Push works at once. They are kept
 * in ./data/herald-dev.json (dev-keys-file.ts) and reused on every later start.
 *
 * The rule (contract, "First run"): only outside production (NODE_ENV ≠ production), and only when
 * neither HERALD_API_KEYS nor any VAPID variable is set. A deployment that configures either is
 * never handed keys of Herald's making: half a configuration means the operator is setting Herald
 * up, and made keys would hide what is missing. (A VAPID variable set alone stops the start
 * anyway: loadConfig wants all three.)
 */
import { randomBytes } from 'node:crypto';
import type { ApiKey, Config, VapidSettings } from '../config.js';
import { generateVapidKeys } from '../channels/webpush/vapid.js';

/** The keys a first run makes. */
export interface DevKeys {
  /** Secret of an API key with the `publish` scope: for an app's backend. */
  publishKey: string;
  /** Secret of an API key with the `admin` scope: for the console and the admin routes. */
  adminKey: string;
  vapid: VapidSettings;
}

/**
 * The VAPID subject of the made pair. Push services accept it from a machine of one's own, except
 * Apple's (Safari), which refuses a subject at localhost: edit it in the file to try Safari.
 */
export const DEV_VAPID_SUBJECT = 'mailto:admin@localhost';

/** Why a start does not use dev keys. */
export type NoDevKeysReason = 'production' | 'api-keys-set' | 'vapid-set';

export type FirstRunDecision = { useDevKeys: true } | { useDevKeys: false; because: NoDevKeysReason };

/** Whether `herald start` uses (and makes, the first time) dev keys, from the loaded configuration. */
export function firstRunDecision(config: Pick<Config, 'production' | 'apiKeys' | 'vapid'>): FirstRunDecision {
  if (config.production) return { useDevKeys: false, because: 'production' };
  // An empty HERALD_API_KEYS is unset (loadConfig reads a blank value as none); a set one has keys or stops the start.
  if (config.apiKeys.length > 0) return { useDevKeys: false, because: 'api-keys-set' };
  // Any VAPID variable set yields settings or stops the start: null means none is set.
  if (config.vapid !== null) return { useDevKeys: false, because: 'vapid-set' };
  return { useDevKeys: true };
}

/** Random bytes per secret: 192 bits, written in hex (never a placeholder word, nothing to escape). */
const SECRET_BYTES = 24;

/** New dev keys: random secrets that say their scope, a new P-256 pair. */
export function newDevKeys(): DevKeys {
  return {
    publishKey: `dev-publish-${randomBytes(SECRET_BYTES).toString('hex')}`,
    adminKey: `dev-admin-${randomBytes(SECRET_BYTES).toString('hex')}`,
    vapid: { ...generateVapidKeys(), subject: DEV_VAPID_SUBJECT },
  };
}

/** The configuration with the dev keys as its API keys and VAPID settings, frozen like loadConfig's. */
export function withDevKeys(config: Config, keys: DevKeys): Config {
  const apiKeys: ApiKey[] = [
    Object.freeze({ secret: keys.publishKey, scope: 'publish' as const }),
    Object.freeze({ secret: keys.adminKey, scope: 'admin' as const }),
  ];
  return Object.freeze({ ...config, apiKeys: Object.freeze(apiKeys), vapid: Object.freeze({ ...keys.vapid }) });
}
