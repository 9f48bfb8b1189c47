import { describe, expect, it } from 'vitest';
import { Keys } from '../../src/store/keys.js';
import { addBucket, decodeCounters, field, latencyBucket, latencyBucketUpperMs, StatsDeltaBuilder } from '../../src/store/stats-counters.js';
import { channelStats, notificationStats, parseWindow, percentile, windowBucketKeys } from '../../src/stats/read.js';

/** Counters as the script would leave them after applying these deltas, summed over buckets. */
function sum(...deltas: StatsDeltaBuilder[]) {
  const totals = new Map<string, number>();
  for (const delta of deltas) addBucket(totals, Object.fromEntries(Object.entries(delta.build()).map(([k, v]) => [k, String(v)])));
  return decodeCounters(totals);
}

describe('statistics arithmetic', () => {
  it('maps outcomes to channel figures: transient, permanent and gone are failed attempts; permanent and gone are permanent', () => {
    const d = new StatsDeltaBuilder();
    for (let i = 0; i < 5; i++) d.attempt('webpush', 'delivered', 100);
    for (let i = 0; i < 3; i++) d.attempt('webpush', 'transient');
    d.attempt('webpush', 'permanent').attempt('webpush', 'gone').attempt('webpush', 'skipped').attempt('webpush', 'skipped');
    const stats = channelStats(sum(d).channels.webpush);
    expect(stats).toMatchObject({ attempts: 10, delivered: 5, failedAttempts: 5, permanentFailures: 2, successRate: 0.5 });
    expect(stats.attempts).toBe(stats.delivered + stats.failedAttempts);
    expect(channelStats(sum(d).channels.email)).toEqual({
      attempts: 0,
      delivered: 0,
      failedAttempts: 0,
      permanentFailures: 0,
      successRate: null,
      latencyMs: { p50: null, p95: null, p99: null },
    });
  });

  it('rates notifications over those that ended delivered or failed, null when none did', () => {
    const ended = new StatsDeltaBuilder()
      .accepted()
      .accepted()
      .accepted()
      .ended('delivered')
      .ended('delivered')
      .ended('delivered')
      .ended('failed')
      .ended('expired')
      .ended('canceled');
    // A canceled notification is neither a success nor a failure: the rates leave it out.
    expect(notificationStats(sum(ended))).toEqual({
      accepted: 3,
      delivered: 3,
      failed: 1,
      expired: 1,
      skipped: 0,
      merged: 0,
      canceled: 1,
      successRate: 0.75,
      failureRate: 0.25,
    });
    expect(notificationStats(sum(new StatsDeltaBuilder().ended('expired').ended('skipped').ended('canceled')))).toMatchObject({
      successRate: null,
      failureRate: null,
    });
  });

  it('reads percentiles from the log histogram within 10%, across buckets summed from several hashes', () => {
    const latencies = Array.from({ length: 100 }, (_, i) => (i + 1) * 10); // 10 … 1000 ms
    const a = new StatsDeltaBuilder();
    const b = new StatsDeltaBuilder();
    for (const [i, ms] of latencies.entries()) (i % 2 ? a : b).attempt('gotify', 'delivered', ms);
    const counters = sum(a, b).channels.gotify;
    expect(counters.latencySumMs).toBe(latencies.reduce((x, y) => x + y, 0));
    const stats = channelStats(counters);
    for (const [name, truth] of [
      ['p50', 500],
      ['p95', 950],
      ['p99', 990],
    ] as const) {
      expect(stats.latencyMs[name]).toBeGreaterThanOrEqual(truth);
      expect(stats.latencyMs[name]).toBeLessThanOrEqual(truth * 1.1);
    }
    expect(percentile([], 0.5)).toBeNull();
    expect(percentile([[0, 3]], 0.99)).toBe(1);
    for (const ms of [1, 2, 7, 99, 1234, 60_000]) {
      const upper = latencyBucketUpperMs(latencyBucket(ms));
      expect(upper).toBeGreaterThanOrEqual(ms);
      expect(upper).toBeLessThanOrEqual(ms * 1.1 + 1e-9);
    }
  });

  it('keeps the latency sum out of the histogram and ignores fields it does not know', () => {
    const totals = new Map<string, number>();
    addBucket(totals, { [field.latencySum('gotify')]: '500', [field.latency('gotify', 40)]: '2', 'gotify:latency:x': '9', junk: 'NaN' });
    expect(decodeCounters(totals).channels.gotify).toMatchObject({ latency: [[40, 2]], latencySumMs: 500 });
  });

  it('picks minute buckets up to 180 minutes and hour buckets beyond, every bucket the window overlaps', () => {
    const keys = new Keys('p');
    const now = Date.UTC(2026, 0, 1, 12, 30, 30);
    expect(windowBucketKeys(keys, 60, now)).toEqual([keys.statsBucket('m', now / 60_000 - 1.5), keys.statsBucket('m', now / 60_000 - 0.5)]);
    expect(windowBucketKeys(keys, 10_800, now)).toHaveLength(181);
    expect(windowBucketKeys(keys, 10_801, now).every((k) => k.startsWith('p:stats:h:'))).toBe(true);
    expect(windowBucketKeys(keys, 604_800, now)).toHaveLength(169);
  });

  it('accepts windows of whole seconds from 60 to 604800 only', () => {
    expect(parseWindow(undefined)).toBe(3600);
    expect(parseWindow('60')).toBe(60);
    expect(parseWindow(604_800)).toBe(604_800);
    for (const bad of [59, 604_801, 60.5, '60.0', ' 60', '0x3c', NaN, null, ['60'], {}]) {
      expect(() => parseWindow(bad), String(bad)).toThrow(
        expect.objectContaining({ code: 'HERALD_ERR_VALIDATION', details: [expect.objectContaining({ field: 'window' })] }),
      );
    }
  });
});
