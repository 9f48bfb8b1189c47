// A Web Push encryption thread that dies on a batch holding the payload "crash" and otherwise
// behaves like dist/src/channels/webpush/crypto-thread.js: lets tests see a thread die mid-batch.
import { parentPort } from 'node:worker_threads';
import { encryptBatch } from '../../dist/src/channels/webpush/crypto-batch.js';

parentPort.on('message', (batch) => {
  if (batch.requests.some((request) => request.payload === 'crash')) process.exit(3);
  const encrypted = encryptBatch(batch);
  parentPort.postMessage(encrypted, [encrypted.bodies]);
});
