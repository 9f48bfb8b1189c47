/**
 * The channel contract: one table of scenarios, run against every channel, each against its
 * provider's double (test/helpers/channel-drivers.ts), which checks the wire format of every
 * request it receives. Whatever the provider, a channel delivers on success; retries a provider
 * error, a dropped connection and a timeout; waits out a provider's Retry-After; fails for good,
 * without a retry, on a refusal; removes an address its provider says is gone; sends nothing
 * after the notification's expiry; and never lets a secret (its tokens, keys, passwords, the
 * path of a URL that is a capability) into a status, a dead letter or a log line, though the
 * doubles echo them in their error answers. A failure a provider cannot give (Retry-After over
 * SMTP, `gone` outside Web Push and webhooks) has no scenario for that channel.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CHANNEL_NAMES, type AttemptOutcome, type ChannelName, type Status } from '../../src/types.js';
import { DRIVERS, FAILURE_CODES, type Answer, type ChannelDriver, type Failure } from '../helpers/channel-drivers.js';
import { Harness } from '../helpers/harness.js';

interface Scenario {
  name: string;
  /** What the provider answers the first try with; every later try is accepted. */
  first: Answer;
  /** Settings of this scenario on top of the test harness's. */
  env?: Record<string, string>;
  ttlSeconds?: number;
  /** The status the notification ends in. */
  ends: Status['status'];
  /** Its attempts' outcomes, in order. */
  outcomes: AttemptOutcome[];
  /** Whether the recipient still has its address on the channel afterwards. */
  keepsAddress: boolean;
}

const SCENARIOS: Scenario[] = [
  { name: 'delivers when the provider accepts', first: 'accept', ends: 'delivered', outcomes: ['delivered'], keepsAddress: true },
  {
    name: 'retries a provider error (5xx; SMTP 4xx), then delivers',
    first: 'serverError',
    ends: 'delivered',
    outcomes: ['transient', 'delivered'],
    keepsAddress: true,
  },
  { name: 'retries a dropped connection, then delivers', first: 'networkError', ends: 'delivered', outcomes: ['transient', 'delivered'], keepsAddress: true },
  {
    name: 'retries a provider that does not answer in time, then delivers',
    first: 'timeout',
    env: { HERALD_PROVIDER_TIMEOUT_MS: '400' },
    ends: 'delivered',
    outcomes: ['transient', 'delivered'],
    keepsAddress: true,
  },
  {
    name: 'waits out Retry-After on 429, then delivers',
    first: 'rateLimited',
    ends: 'delivered',
    outcomes: ['transient', 'delivered'],
    keepsAddress: true,
  },
  {
    name: 'fails for good on a refusal (4xx; SMTP 5xx), without a retry',
    first: 'refused',
    ends: 'failed',
    outcomes: ['permanent'],
    keepsAddress: true,
  },
  {
    name: 'removes an address the provider says is gone, and sends it nothing more',
    first: 'gone',
    ends: 'failed',
    outcomes: ['gone'],
    keepsAddress: false,
  },
  {
    // The retry's backoff ends after the ttl: the notification ends expired at its ttl, unsent.
    name: 'sends nothing after the expiry, though a retry was due',
    first: 'serverError',
    env: { HERALD_BACKOFF_MS: '5000', HERALD_BACKOFF_MAX_MS: '5000' },
    ttlSeconds: 1,
    ends: 'expired',
    outcomes: ['transient'],
    keepsAddress: true,
  },
];

/** The scenarios a channel's provider can play: one whose first answer is a failure the provider cannot give is left out. */
function applicable(channel: ChannelName, scenario: Scenario): boolean {
  return scenario.first === 'accept' || FAILURE_CODES[channel][scenario.first as Failure] !== undefined;
}

const CASES = CHANNEL_NAMES.flatMap((channel) =>
  SCENARIOS.filter((scenario) => applicable(channel, scenario)).map((scenario) => [channel, scenario.name, scenario] as const),
);

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A harness whose only provider is `driver`'s double, a recipient registered on it, and a worker. */
async function setUp(driver: ChannelDriver, scenario: Scenario): Promise<Harness> {
  const settings = await driver.start();
  h = await Harness.create({ noGotify: true, env: { ...settings, ...scenario.env } });
  h.onClose(() => driver.close());
  await driver.register(h.herald, 'u-contract');
  await h.startWorker([driver.channel]);
  return h;
}

describe('the channel contract', () => {
  it('runs every scenario on every channel it applies to', () => {
    const channels = new Set<ChannelName>(CASES.map(([channel]) => channel));
    expect([...channels]).toEqual([...CHANNEL_NAMES]);
    // The failures only some providers have.
    expect(CASES.filter(([, name]) => name.startsWith('removes an address')).map(([channel]) => channel)).toEqual(['webpush', 'webhook']);
    expect(CASES.filter(([, name]) => name.startsWith('waits out Retry-After')).map(([channel]) => channel)).toEqual(['gotify', 'webpush', 'ntfy', 'webhook']);
  });

  it.each(CASES)('%s: %s', async (channel, _name, scenario) => {
    const driver = DRIVERS[channel]();
    const harness = await setUp(driver, scenario);
    driver.script(scenario.first);
    const ttlSeconds = scenario.ttlSeconds ?? 600;
    const { id } = await harness.herald.notify({
      to: 'u-contract',
      channels: [channel],
      title: 'Contract',
      message: `A message over ${channel}`,
      category: 'contract',
      ttlSeconds,
    });

    const final = await harness.waitForStatus(id, scenario.ends);
    await driver.settle?.(harness.herald, 'u-contract');
    expect(final.attempts.map((a) => a.outcome)).toEqual(scenario.outcomes);
    expect(final.attempts.every((a) => a.channel === channel)).toBe(true);

    // Each attempt is one request the provider received, well-formed.
    const arrivals = driver.arrivals();
    expect(arrivals).toHaveLength(final.attempts.length);
    expect(driver.wireProblems()).toEqual([]);

    // A failure is recorded with its provider's code for it, and its error starts with the code.
    if (scenario.first !== 'accept') {
      const failed = final.attempts[0]!;
      expect(failed.code).toMatch(FAILURE_CODES[channel][scenario.first]!);
      expect(failed.error?.startsWith(`${failed.code}: `)).toBe(true);
    }
    if (scenario.ends === 'delivered') expect(driver.shown()).toEqual({ title: 'Contract', message: `A message over ${channel}` });
    if (scenario.first === 'rateLimited') {
      // The provider asked for a second; the retry came no sooner.
      expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(950);
    }
    if (scenario.ends === 'expired') {
      const expiresAt = Date.parse(final.createdAt) + ttlSeconds * 1000;
      expect(arrivals.filter((at) => at >= expiresAt)).toEqual([]);
    }
    expect(await driver.hasAddress(harness.herald, 'u-contract')).toBe(scenario.keepsAddress);

    // Secrets reach no status, dead letter or log line, though the doubles echo them.
    const seen = [JSON.stringify(final), JSON.stringify(await harness.herald.deadLetters.get(id)), ...harness.logs.raw].join('\n');
    for (const secret of driver.secrets()) expect(seen).not.toContain(secret);
  });
});
