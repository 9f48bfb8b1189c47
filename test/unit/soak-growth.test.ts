import { describe, expect, it } from 'vitest';
import { judgeGrowth, type Sample } from '../../bench/lib/growth.mjs';

const MB = 1024 * 1024;
const OPTIONS = { warmupSeconds: 120, cycleSeconds: 60, relative: 0.1, absoluteBytes: 24 * MB, endSeconds: 360 };

/** A sample every 2 s until 358 s (the last one before the load ends at 360 s), valued by `at(t)`. */
function series(at: (t: number) => number, seconds = 358): Sample[] {
  return Array.from({ length: seconds / 2 + 1 }, (_, i) => ({ t: i * 2, value: at(i * 2) }));
}

/**
 * A process at 150 MB whose heap grows by 50 MB until a collection gives it back, on a period of
 * its own (a worker's was 25 to 70 s): a minute may hold no collection at all.
 */
const sawtooth = (period: number) => (t: number) => 150 * MB + ((t % period) / period) * 50 * MB;

describe("the soak's growth criterion", () => {
  it('passes memory that rises during warm-up, then saws up and down around a floor, whatever the period', () => {
    for (const period of [26, 42, 70]) {
      const verdict = judgeGrowth(
        series((t) => Math.min(t, 100) * MB + sawtooth(period)(t)),
        OPTIONS,
      );
      expect(verdict.floors).toHaveLength(2);
      expect(verdict.bounded).toBe(true);
      expect(Math.abs(verdict.growth!)).toBeLessThan(3 * MB);
    }
  });

  it('fails memory that keeps growing after warm-up, as a blocked log pipe did (about 17 MB a minute)', () => {
    const verdict = judgeGrowth(
      series((t) => sawtooth(42)(t) + (t / 60) * 17 * MB),
      OPTIONS,
    );
    expect(verdict.bounded).toBe(false);
    expect(verdict.growth).toBeGreaterThan(verdict.allowed!);
  });

  it('is not moved by an odd sample, low in the first half or high in the second', () => {
    const odd = series((t) => (t === 130 ? 10 * MB : t === 350 ? 900 * MB : sawtooth(42)(t)));
    expect(judgeGrowth(odd, OPTIONS)).toMatchObject({ bounded: true, peak: 900 * MB });
  });

  it('judges whole cycles only: samples after the load ended do not count', () => {
    const after = series(sawtooth(42)).concat([
      { t: 362, value: 900 * MB },
      { t: 364, value: 900 * MB },
    ]);
    expect(judgeGrowth(after, OPTIONS)).toMatchObject({ bounded: true, end: 900 * MB });
  });

  it('gives no verdict when fewer than two whole cycles follow the warm-up', () => {
    expect(judgeGrowth(series(sawtooth(42), 230), { ...OPTIONS, endSeconds: 230 })).toMatchObject({ bounded: null, growth: null });
  });
});
