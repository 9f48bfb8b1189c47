/**
 * Does a memory figure grow without bound? The soak's verdict on each process's RSS and on Redis
 * memory, from samples taken every few seconds while the same cycle of provider behaviour (up,
 * down, slow, refusing, hanging) repeats under steady load.
 *
 * The criterion, and why:
 * - The first `warmupSeconds` are left out: heaps size themselves, JIT and pools warm up, and Redis
 *   fills to the level its retention settings hold (status records and dead letters kept a minute
 *   in the soak). Memory that grows then stops is not a leak.
 * - What follows, in whole cycles of the provider schedule (an unfinished last cycle is left out),
 *   is cut into two halves of equal length. With at least two cycles measured, each half holds a
 *   whole cycle's mix of outage, backlog and recovery.
 * - Each half's level is its floor: the second-lowest sample, the memory a process comes back to
 *   after a garbage collection, or Redis once a backlog built during an outage has drained. Memory
 *   that is only borrowed (a heap that grows until the next major collection, queued jobs) leaves
 *   the floor where it was; memory that is kept raises it. Not a mean or median: a worker's RSS
 *   saws by about 50 MB on a period of its own (25 to 70 s in runs of this soak), and where the
 *   teeth fell moved per-minute medians by 25 MB between identical minutes. Floors move less, but
 *   still by up to 15 MB between the halves of a 5-minute run (a collection that happened during an
 *   outage keeps more alive), which is what the allowance must absorb. The second-lowest sample,
 *   so one odd sample cannot move it.
 * - The second half's floor may exceed the first's by at most max(`relative` × first floor,
 *   `absoluteBytes`); above that the figure grows without bound as far as a run of this length
 *   can tell. The absolute part keeps small figures from failing on a few MB of noise, the
 *   relative part keeps large ones from failing on allocator slack.
 * - What a run can see depends on its length: growth is measured across half the measured time.
 *   With the soak's 24 MB allowance for a process's RSS, the default run (four measured minutes)
 *   fails RSS that grows more than about 12 MB a minute, `npm run soak -- --minutes 30` RSS that
 *   grows more than about 1.7 MB a minute.
 */

/** The second-lowest of a list of numbers (the lowest when there is one). */
function floorOf(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(1, sorted.length - 1)];
}

/**
 * Least-squares slope of value over time, in units per minute: reported beside the verdict so a
 * reader sees the trend, not used for it (a sawtooth makes slopes over a few minutes noisy).
 */
function slopePerMinute(samples) {
  if (samples.length < 2) return null;
  const n = samples.length;
  const meanT = samples.reduce((s, x) => s + x.t, 0) / n;
  const meanV = samples.reduce((s, x) => s + x.value, 0) / n;
  let num = 0;
  let den = 0;
  for (const { t, value } of samples) {
    num += (t - meanT) * (value - meanV);
    den += (t - meanT) ** 2;
  }
  return den > 0 ? (num / den) * 60 : null;
}

/**
 * Judges one series. `samples` are `{ t, value }` with `t` in seconds since the load started
 * (`value` null when the process was gone); `endSeconds` is when the load ended (default: the last
 * sample). Returns the two halves' floors, the growth between them, the allowance, and `bounded`
 * (true, false, or null when fewer than two whole cycles followed the warm-up).
 */
export function judgeGrowth(samples, { warmupSeconds, cycleSeconds, relative, absoluteBytes, endSeconds }) {
  const present = samples.filter((s) => s.value !== null);
  const values = present.map((s) => s.value);
  const end = endSeconds ?? (samples.length > 0 ? samples[samples.length - 1].t : 0);
  const cycles = Math.max(0, Math.floor((end - warmupSeconds) / cycleSeconds));
  const stop = warmupSeconds + cycles * cycleSeconds;
  const middle = warmupSeconds + (cycles * cycleSeconds) / 2;
  const measured = present.filter((s) => s.t >= warmupSeconds && s.t < stop);
  const halves = [measured.filter((s) => s.t < middle), measured.filter((s) => s.t >= middle)];
  const summary = {
    start: values[0] ?? null,
    peak: values.length > 0 ? Math.max(...values) : null,
    end: values[values.length - 1] ?? null,
    floors: [],
    slopePerMinute: slopePerMinute(measured),
  };
  if (cycles < 2 || halves.some((half) => half.length === 0)) return { ...summary, growth: null, allowed: null, bounded: null };
  const floors = halves.map((half) => floorOf(half.map((s) => s.value)));
  const growth = floors[1] - floors[0];
  const allowed = Math.max(relative * floors[0], absoluteBytes);
  return { ...summary, floors, growth, allowed, bounded: growth <= allowed };
}
