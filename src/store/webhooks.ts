/**
 * Event webhook endpoints (`POST/GET/DELETE /v1/webhooks`): where Herald POSTs the events each
 * endpoint asked for. One hash holds them all (keys.webhooks(): id → JSON), so the dispatcher
 * reads every endpoint in one command per batch of events; a second hash (keys.webhookHealth())
 * holds each endpoint's latest delivery outcome, for operators.
 *
 * The secret is made here, handed back once by create(), and afterwards read only by the sender
 * (get()); list() never returns it. Deleting an endpoint is what stops its pending deliveries:
 * the sender looks the endpoint up before every try and drops a delivery whose endpoint is gone.
 */
import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../redis/client.js';
import { generateSecret } from '../channels/standard-webhooks.js';
import type { Keys } from './keys.js';
import type { EventType } from '../types.js';

/** An endpoint's filter: the event types it receives, or every type. */
export type EventFilter = readonly EventType[] | readonly ['*'];

/** An endpoint as stored and as the sender uses it (with its secret). */
export interface WebhookEndpoint {
  id: string;
  url: string;
  events: EventFilter;
  /** `whsec_…`: shown once at creation, never in a list. */
  secret: string;
  createdAt: string;
}

/** How an endpoint's deliveries are going: its latest success and failure, and failures since the last success. */
export interface EndpointHealth {
  lastSuccessAt?: string;
  lastFailureAt?: string;
  /** The latest failure: `HTTP 503`, a network error code, or `timeout`. */
  lastError?: string;
  /** Failed tries since the last success (0 when the latest try succeeded). */
  failingTries: number;
}

/** An endpoint as `GET /v1/webhooks` lists it: no secret, with its delivery health. */
export type WebhookListing = Omit<WebhookEndpoint, 'secret'> & { health: EndpointHealth };

export class WebhookStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  /** Stores a new endpoint with a new secret; the caller has validated `url` and `events`. */
  async create(url: string, events: EventFilter): Promise<WebhookEndpoint> {
    const endpoint: WebhookEndpoint = {
      id: `wh_${randomBytes(12).toString('hex')}`,
      url,
      events: [...events] as EventFilter,
      secret: generateSecret(),
      createdAt: new Date().toISOString(),
    };
    await this.redis.hset(this.keys.webhooks(), endpoint.id, JSON.stringify(endpoint));
    return endpoint;
  }

  /** One endpoint with its secret, or null when there is none (deleted). */
  async get(id: string): Promise<WebhookEndpoint | null> {
    const json = await this.redis.hget(this.keys.webhooks(), id);
    return json ? (JSON.parse(json) as WebhookEndpoint) : null;
  }

  /** How many endpoints are registered (the dispatcher skips the event log while there are none). */
  async count(): Promise<number> {
    return this.redis.hlen(this.keys.webhooks());
  }

  /** Every endpoint with its secret, for the dispatcher. */
  async all(): Promise<WebhookEndpoint[]> {
    const entries = await this.redis.hgetall(this.keys.webhooks());
    return Object.values(entries).map((json) => JSON.parse(json) as WebhookEndpoint);
  }

  /** Every endpoint without its secret, oldest first, with its delivery health. */
  async list(): Promise<WebhookListing[]> {
    const [endpoints, health] = await Promise.all([this.all(), this.redis.hgetall(this.keys.webhookHealth())]);
    return endpoints
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id))
      .map(({ secret: _secret, ...listed }) => {
        const json = health[listed.id];
        return { ...listed, health: json ? (JSON.parse(json) as EndpointHealth) : { failingTries: 0 } };
      });
  }

  /** Deletes an endpoint; false when there was none. Its pending deliveries are dropped when they come up. */
  async delete(id: string): Promise<boolean> {
    const [[, removed]] = (await this.redis.multi().hdel(this.keys.webhooks(), id).hdel(this.keys.webhookHealth(), id).exec()) as [[null, number]];
    return removed === 1;
  }

  /** Records a delivery try's outcome (`error` absent: it succeeded), in one atomic step, only while the endpoint exists. */
  async recordTry(id: string, error?: string): Promise<void> {
    await this.redis.eval(RECORD_TRY, 2, this.keys.webhooks(), this.keys.webhookHealth(), id, new Date().toISOString(), error ?? '');
  }
}

/**
 * KEYS: endpoints hash, health hash. ARGV: endpoint id, now (ISO 8601), error ('' for a success).
 * A try that ends after its endpoint was deleted leaves nothing behind.
 */
const RECORD_TRY = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local stored = redis.call('HGET', KEYS[2], ARGV[1])
local health = stored and cjson.decode(stored) or {failingTries = 0}
if ARGV[3] == '' then
  health.lastSuccessAt = ARGV[2]
  health.failingTries = 0
else
  health.lastFailureAt = ARGV[2]
  health.lastError = ARGV[3]
  health.failingTries = (health.failingTries or 0) + 1
end
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(health))
return 1`;
