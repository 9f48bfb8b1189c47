#!/usr/bin/env node
// Turns the fault suite's results (reliability/results.jsonl, newest run per scenario) into the
// fault suite table of docs/reliability.md, between the reliability markers.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';

const RESULTS = 'reliability/results.jsonl';
const START = '<!-- reliability:start -->';
const END = '<!-- reliability:end -->';
const DOC = 'docs/reliability.md';

if (!existsSync(RESULTS)) {
  console.error(`no ${RESULTS}: run npm run test:faults first`);
  process.exit(1);
}
const latest = new Map();
for (const line of readFileSync(RESULTS, 'utf8').split('\n').filter(Boolean)) {
  const row = JSON.parse(line);
  latest.set(row.scenario, row);
}
const rows = [...latest.values()];
const table = [
  '| scenario | load | faults injected | notifications | delivered | lost | duplicated | notes |',
  '|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.scenario} | ${r.load} | ${r.faults} | ${r.notifications} | ${r.delivered} | ${r.lost} | ${r.duplicated} | ${r.notes} |`),
].join('\n');
const when = rows
  .map((r) => r.at)
  .sort()
  .at(-1);
const block = `${START}\nLast run: ${when}, on ${process.platform} with Node ${process.version}.\n\n${table}\n${END}`;
const doc = readFileSync(DOC, 'utf8');
if (!doc.includes(START) || !doc.includes(END)) {
  console.error(`${DOC} has no reliability markers`);
  process.exit(1);
}
writeFileSync(DOC, doc.replace(new RegExp(`${START}[\\s\\S]*?${END}`), block));
console.log(table);
