import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verdict, writeBaseline } from '../../bench/lib/baseline.mjs';

/** The part of a run's summarised results the guard reads. */
function results({ vsFloor = 0.2, worker = 0.1, redis = 0.05, webpush = 0.4 } = {}) {
  const cpu = (w: number, r: number) => ({ worker: { msPerNotification: w }, redis: { msPerNotification: r } });
  return {
    generatedAt: '2026-11-30T20:00:00.000Z',
    mode: 'full',
    machine: { cores: 2 },
    backgroundLoad: { medianCores: 0.5 },
    delivery: { gotify: { vsFloor, cpu: cpu(worker, redis) }, webpush: { cpu: cpu(webpush, 0.06) } },
  };
}

describe('the benchmark regression guard', () => {
  it('says there is no baseline until a full run wrote one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-baseline-'));
    expect(verdict(results(), dir)).toMatch(/^no baseline to compare with: .*baseline\.json is written by a full run/);
  });

  it('passes figures within 10 % of the baseline, each shown with its change', () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-baseline-'));
    writeBaseline(results(), dir);
    const line = verdict(results({ vsFloor: 0.19, worker: 0.109, redis: 0.048 }), dir);
    expect(line).toMatch(/: OK /);
    expect(line).toContain('Gotify worker CPU/delivery 109 µs (baseline 100 µs, +9 %)');
    expect(line).toContain('Herald → Gotify ÷ floor 0.19× (baseline 0.20×, −5 %)');
    expect(line).toMatch(/other programs used 0\.50 cores \(0\.50 during the baseline\)$/);
    expect(line.split('\n')).toHaveLength(1);
  });

  it('flags a cost up by more than 10 %, and a ratio to the floor down by more than 10 %', () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-baseline-'));
    writeBaseline(results(), dir);
    expect(verdict(results({ worker: 0.112 }), dir)).toMatch(/REGRESSION \(more than 10 % worse: Gotify worker CPU\/delivery\)/);
    expect(verdict(results({ vsFloor: 0.17 }), dir)).toMatch(/REGRESSION \(more than 10 % worse: Herald → Gotify ÷ floor\)/);
    // Better by any amount is not a regression.
    expect(verdict(results({ worker: 0.05, vsFloor: 0.4 }), dir)).toMatch(/: OK /);
  });
});
