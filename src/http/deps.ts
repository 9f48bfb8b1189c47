/** What the HTTP app and each of its route plugins are built from. */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Herald } from '../sdk/herald.js';
import type { EventHubOptions } from './event-hub.js';
import type { EventStreamLimits } from './event-stream-client.js';

export interface AppDeps {
  herald: Herald;
  config: Config;
  logger: Logger;
  /** `/v1/events` settings other than the defaults (tests: a short heartbeat, a small buffer). */
  eventStream?: Partial<EventStreamLimits> & { hub?: EventHubOptions };
}
