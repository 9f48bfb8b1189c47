import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { RetrySummary } from '../../src/delivery/retry-summary.js';
import { LogCapture, until } from '../helpers/harness.js';

let summary: RetrySummary | undefined;
afterEach(() => {
  summary?.stop();
  summary = undefined;
});

describe('RetrySummary', () => {
  it('turns many retries into one line per channel, with the count per failure code', () => {
    const logs = new LogCapture();
    summary = new RetrySummary(createLogger({ destination: logs.stream }).child({ workerId: 'w-1' }));
    for (let i = 0; i < 300; i++) summary.add('gotify', i % 3 === 0 ? 'HERALD_NET_ECONNREFUSED' : 'HERALD_GOTIFY_HTTP_503');
    summary.add('email', 'HERALD_SMTP_421');
    summary.flush();
    expect(logs.lines).toHaveLength(2);
    expect(logs.lines.find((l) => l.channel === 'gotify')).toMatchObject({
      level: 30,
      msg: 'retries scheduled',
      workerId: 'w-1',
      retries: 300,
      codes: { HERALD_NET_ECONNREFUSED: 100, HERALD_GOTIFY_HTTP_503: 200 },
      periodMs: expect.any(Number),
    });
    expect(logs.lines.find((l) => l.channel === 'email')).toMatchObject({ retries: 1, codes: { HERALD_SMTP_421: 1 } });
    // Counted once: the next summary starts from zero, and says nothing when nothing was retried.
    summary.flush();
    expect(logs.lines).toHaveLength(2);
  });

  it('logs by itself every interval while retries happen, and what is left when it stops', async () => {
    const logs = new LogCapture();
    summary = new RetrySummary(createLogger({ destination: logs.stream }), 20);
    summary.start();
    summary.add('webpush', 'HERALD_WEBPUSH_HTTP_500');
    await until(
      async () => logs.lines.length,
      (n) => n === 1,
    );
    summary.add('webpush', 'HERALD_WEBPUSH_HTTP_429');
    summary.stop();
    expect(logs.lines.map((l) => l.codes)).toEqual([{ HERALD_WEBPUSH_HTTP_500: 1 }, { HERALD_WEBPUSH_HTTP_429: 1 }]);
  });
});
