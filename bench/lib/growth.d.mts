/** Types of growth.mjs, for the tests that check the soak's criterion. */
export interface Sample {
  /** Seconds since the load started. */
  t: number;
  value: number | null;
}

export interface GrowthOptions {
  warmupSeconds: number;
  cycleSeconds: number;
  relative: number;
  absoluteBytes: number;
  /** When the load ended, in seconds; default: the last sample's time. */
  endSeconds?: number;
}

export interface GrowthVerdict {
  start: number | null;
  peak: number | null;
  end: number | null;
  /** The floors of the first and the second half of the measured time (empty without a verdict). */
  floors: number[];
  slopePerMinute: number | null;
  growth: number | null;
  allowed: number | null;
  bounded: boolean | null;
}

export function judgeGrowth(samples: Sample[], options: GrowthOptions): GrowthVerdict;
