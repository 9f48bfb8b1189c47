// Each run of the fault suite starts a fresh results file, so the table in docs/reliability.md is one run's.
import { rmSync } from 'node:fs';
import { RESULTS_FILE } from './report.js';

export default function setup(): void {
  rmSync(RESULTS_FILE, { force: true });
}
