/** Types of baseline.mjs, for the tests of the regression guard. */
export const REGRESSION_THRESHOLD: number;
/** Stores the figures of a full run's results (report.mjs summarise) as the baseline. */
export function writeBaseline(results: unknown, dir: string): void;
/** The one-line verdict of a quick run's results against the stored baseline. */
export function verdict(results: unknown, dir: string): string;
