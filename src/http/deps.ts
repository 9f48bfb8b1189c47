/** What the HTTP app and each of its route plugins are built from. */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Herald } from '../sdk/herald.js';

export interface AppDeps {
  herald: Herald;
  config: Config;
  logger: Logger;
}
