/**
 * Entry point of a delivery worker process (`node dist/workers/worker.js`, the same as
 * `herald worker`): see src/run/worker-command.ts.
 */
import { runWorker } from '../src/run/worker-command.js';

void runWorker(process.argv.slice(2));
