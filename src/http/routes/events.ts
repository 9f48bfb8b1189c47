/**
 * `GET /v1/events` (scope `admin`): the event log as Server-Sent Events (see
 * event-stream-client.ts for resumption and back-pressure, event-hub.ts for the shared reader).
 * `Last-Event-ID` (or the `lastEventId` query parameter, for clients that cannot set headers)
 * resumes strictly after that event. With several shards there is one shared reader per shard's
 * event log, and the SSE id is a position in all of them (src/event-ids.ts).
 */
import type { FastifyInstance } from 'fastify';
import { validateEventQuery } from '../../validate.js';
import type { AppDeps } from '../deps.js';
import { EventHub } from '../event-hub.js';
import { DEFAULT_EVENT_STREAM_LIMITS, EventStreamClient } from '../event-stream-client.js';

type EventsRequest = { Querystring: { types?: unknown; to?: unknown; lastEventId?: unknown } };

export async function eventRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { herald } = deps;
  const limits = { ...DEFAULT_EVENT_STREAM_LIMITS, ...deps.eventStream };
  const logs = herald.eventLogs;
  const hubs = logs.map(
    (log, shard) =>
      new EventHub(
        () => herald.blockingConnection(),
        () => herald.connection(),
        log,
        deps.logger,
        deps.eventStream?.hub,
        shard,
      ),
  );
  const hub = hubs[0]!;
  const clients = new Set<EventStreamClient>();
  app.decorate('eventHub', hub);
  app.addHook('preClose', async () => {
    for (const each of hubs) each.close();
    for (const client of clients) client.end();
  });

  app.get<EventsRequest>('/v1/events', { config: { scope: 'admin' } }, async (request, reply) => {
    const header = request.headers['last-event-id'];
    const fromHeader = typeof header === 'string' && header !== '';
    const query = validateEventQuery(
      { types: request.query.types, to: request.query.to, after: fromHeader ? header : request.query.lastEventId },
      { types: 'types', to: 'to', after: fromHeader ? 'Last-Event-ID' : 'lastEventId' },
      logs.length,
    );
    // Redis must answer before the stream opens, so an outage is a 503 rather than an empty stream.
    const redis = await herald.connection();
    const client = new EventStreamClient(reply.raw, { types: query.types, to: query.to }, limits, logs.length);
    let start: string[];
    try {
      start = await Promise.all(hubs.map((each) => each.subscribe(client)));
    } catch (err) {
      // A shard's reader could not start (its Redis node away): the route answers 503, and the
      // readers that did start must not keep the client.
      for (const each of hubs) each.unsubscribe(client);
      throw err;
    }
    clients.add(client);
    client.onClose = () => {
      for (const each of hubs) each.unsubscribe(client);
      clients.delete(client);
    };
    reply.hijack();
    client.open();
    try {
      await client.catchUp(redis, logs, query.afterIds, start);
    } catch (err) {
      request.log.warn({ err }, 'reading the event log for a client failed');
      client.drop('the event log could not be read; reconnect with Last-Event-ID');
    }
  });
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The process's shared reader of the event log (GET /v1/events). */
    eventHub: EventHub;
  }
}
