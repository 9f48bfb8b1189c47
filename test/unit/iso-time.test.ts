import { describe, expect, it } from 'vitest';
import { isoTime } from '../../src/iso-time.js';

describe('isoTime', () => {
  it('writes what toISOString writes, across seconds, minutes, days and years, in any order', () => {
    const base = Date.UTC(2026, 11, 31, 23, 58, 59, 0);
    const times = [0, 1, 9, 10, 99, 100, 999, 1000, 59_999, 60_000, 60_001, 61_009, 119_999, 120_000].map((d) => base + d);
    // Back and forth over minute boundaries, so the minute worked out before is not reused wrongly.
    times.push(base, base + 60_000 * 60 * 24 * 400 + 7, base - 1, Date.UTC(2024, 1, 29, 12, 0, 0, 5), 0, 59_999, 253_402_300_799_999);
    for (let i = 0; i < 2000; i++) times.push(Math.floor(Math.random() * 4_102_444_800_000));
    for (const ms of times) expect(isoTime(ms), String(ms)).toBe(new Date(ms).toISOString());
  });

  it('leaves times it does not cover to toISOString', () => {
    for (const ms of [-1, 1.5, 253_402_300_800_000]) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });
});
