#!/usr/bin/env node
// Writes config/herald.env.example and the configuration table of docs/operations.md from
// src/defaults.ts (through its build in dist/, so `npm run docs:config` compiles first).
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigTable, renderEnvExample, withConfigTable } from '../dist/src/config-docs.js';

const EXAMPLE = 'config/herald.env.example';
const OPERATIONS = 'docs/operations.md';

writeFileSync(EXAMPLE, renderEnvExample());
writeFileSync(OPERATIONS, withConfigTable(readFileSync(OPERATIONS, 'utf8'), renderConfigTable()));
console.log(`wrote ${EXAMPLE} and the table of ${OPERATIONS}`);
