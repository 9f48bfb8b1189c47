/** How large a request body may be, per route (Fastify's `bodyLimit`). */
import { MAX_BATCH } from '../sdk/herald.js';

/** The largest request body of every route but the batch route. */
export const BODY_LIMIT_BYTES = 64 * 1024;

/**
 * The batch route's body limit: MAX_BATCH notifications of the largest body the single route
 * accepts, plus as much again for the envelope (`{"notifications": […]}`, separators, indentation).
 * 1001 × 64 KiB = 65,601,536 bytes (62.6 MiB). A notification with every field at its schema
 * maximum (message 4000, title 250, url 2048 characters, data 2 KiB, addresses, no Web Push
 * targets) is at most about 49 KB even with every character written as a `\uXXXX` escape (as
 * Python's json module does by default); 50 Web Push targets can make one larger, but never
 * larger than the single route's limit allows.
 */
export const BATCH_BODY_LIMIT_BYTES = (MAX_BATCH + 1) * BODY_LIMIT_BYTES;
