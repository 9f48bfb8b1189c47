/**
 * The configuration of a `herald` command: the environment read by loadConfig, with the password of
 * the private local redis-server when REDIS_URL is unset. Bad settings end the process with the
 * message that lists every bad variable.
 */
import { ConfigError, loadConfig, type LoadedConfig } from '../config.js';
import { withLocalRedisPassword } from '../redis/local-server.js';
import { exitWithError } from './process.js';

export function loadSettings(): LoadedConfig {
  try {
    const loaded = loadConfig();
    return { ...loaded, config: withLocalRedisPassword(loaded.config) };
  } catch (err) {
    if (err instanceof ConfigError) exitWithError(err.message);
    throw err;
  }
}
