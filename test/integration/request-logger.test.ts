import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { lazyRequestLogger } from '../../src/http/request-logger.js';
import { Harness, LogCapture, PUBLISH_KEY } from '../helpers/harness.js';

let h: Harness | undefined;
afterEach(async () => h?.close());

/** Counts the child loggers made from `logger`, which keeps working as before. */
function countChildren(logger: { child: (...args: never[]) => unknown }): { made: number } {
  const counter = { made: 0 };
  const child = logger.child.bind(logger);
  logger.child = (...args: never[]) => {
    counter.made++;
    return child(...args);
  };
  return counter;
}

describe('request loggers', () => {
  it('are not made for requests that log nothing', async () => {
    h = await Harness.create();
    const app = await h.app();
    await app.ready();
    const children = countChildren(h.logger);
    const accepted = await app.inject({
      method: 'POST',
      url: '/v1/notifications',
      headers: { authorization: `Bearer ${PUBLISH_KEY}` },
      payload: { to: 'u-1', message: 'hi' },
    });
    const refused = await app.inject({ method: 'POST', url: '/v1/notifications', payload: { to: 'u-1', message: 'hi' } });
    const missing = await app.inject({ method: 'GET', url: '/v1/nowhere', headers: { authorization: `Bearer ${PUBLISH_KEY}` } });
    expect([accepted.statusCode, refused.statusCode, missing.statusCode]).toEqual([202, 401, 404]);
    expect(children.made).toBe(0);
  });

  it('make the child on first use, once, with the request id and the root logger redaction', () => {
    const logs = new LogCapture();
    const root = createLogger({ level: 'info', destination: logs.stream });
    const children = countChildren(root);
    const log = lazyRequestLogger(root, { reqId: 'req-7' }, {});
    expect(log.level).toBe('info');
    expect(children.made).toBe(0);

    log.error({ token: 'Asecret-token-123', route: '/v1/x' }, 'request failed');
    log.debug('below the level: not written');
    log.info('second line');
    expect(children.made).toBe(1);
    expect(logs.lines.map((line) => [line.reqId, line.msg])).toEqual([
      ['req-7', 'request failed'],
      ['req-7', 'second line'],
    ]);
    expect(logs.lines[0]!.token).toBe('[redacted]');
    expect(logs.raw.join('\n')).not.toContain('Asecret-token-123');

    log.level = 'debug';
    log.debug('now written');
    expect(logs.lines.at(-1)!.msg).toBe('now written');
    expect(root.level).toBe('info');
  });
});
