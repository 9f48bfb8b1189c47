/**
 * Scenario results of the fault suite. Each scenario appends one row; scripts/reliability-report.mjs
 * turns the file into the fault suite table of docs/reliability.md.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export const RESULTS_FILE = 'reliability/results.jsonl';

export interface ScenarioRow {
  scenario: string;
  load: string;
  faults: string;
  notifications: number;
  delivered: number;
  lost: number;
  duplicated: number;
  notes: string;
}

export function record(row: ScenarioRow): void {
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  appendFileSync(RESULTS_FILE, `${JSON.stringify({ ...row, at: new Date().toISOString() })}\n`);
}
