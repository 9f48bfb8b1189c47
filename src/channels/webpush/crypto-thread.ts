/**
 * Entry point of a Web Push encryption thread (see encryptor.ts): encrypts each batch it
 * is sent and hands the bodies back without copying them.
 */
import { parentPort } from 'node:worker_threads';
import { encryptBatch, type RequestBatch } from './crypto-batch.js';

if (!parentPort) throw new Error('the Web Push crypto thread runs as a worker thread of a herald worker');
const port = parentPort;
port.on('message', (batch: RequestBatch) => {
  const encrypted = encryptBatch(batch);
  port.postMessage(encrypted, [encrypted.bodies]);
});
