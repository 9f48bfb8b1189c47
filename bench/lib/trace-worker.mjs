/**
 * Preloaded into a `herald worker` process (`node --import`) by the latency breakdown
 * (latency-trace.mjs): it wraps a few prototype methods of the built delivery code to note, per
 * notification id, when its job reached the processor, when its load's reply was read, and when its
 * provider request started, and when BullMQ had fetched its job; it also notes the worker's garbage-collection pauses and event-loop
 * delay. At exit it writes them to HERALD_TRACE_FILE. Only the benchmark loads it; the product code
 * knows nothing of it.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'bullmq';
import { DeliveryProcessor } from '../../dist/src/delivery/processor.js';
import { Sender } from '../../dist/src/delivery/send.js';
import { NotificationStore } from '../../dist/src/store/notifications.js';

const file = process.env.HERALD_TRACE_FILE;
const now = () => performance.timeOrigin + performance.now();
/** id → [job at the processor, load read, request started, job fetched] (epoch ms). */
const stages = new Map();
const gcPauses = [];

function note(id, index, at) {
  let entry = stages.get(id);
  if (!entry) stages.set(id, (entry = [null, null, null, null]));
  entry[index] ??= at;
}

const process_ = DeliveryProcessor.prototype.process;
DeliveryProcessor.prototype.process = function (channel, data, signal) {
  const at = now();
  for (const item of data.items ?? [data]) note(item.id, 0, at);
  return process_.call(this, channel, data, signal);
};

const moveToActive = Worker.prototype.moveToActive;
Worker.prototype.moveToActive = async function (...args) {
  const job = await moveToActive.apply(this, args);
  const at = now();
  for (const item of job?.data?.items ?? []) note(item.id, 3, at);
  return job;
};

const load = NotificationStore.prototype.load;
NotificationStore.prototype.load = async function (items) {
  const replies = await load.call(this, items);
  const at = now();
  for (const item of items) note(item.id, 1, at);
  return replies;
};

const toTargets = Sender.prototype.toTargets;
Sender.prototype.toTargets = function (channel, state, signal) {
  note(state.item.id, 2, now());
  return toTargets.call(this, channel, state, signal);
};

new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcPauses.push([performance.timeOrigin + entry.startTime, entry.duration, entry.detail?.kind]);
}).observe({ entryTypes: ['gc'] });
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

/**
 * With HERALD_TRACE_ALLOCATIONS=1, V8's sampling heap profiler counting the objects garbage
 * collection has already freed too: what the worker allocates, by function, whatever lives on.
 */
let allocations = null;
if (process.env.HERALD_TRACE_ALLOCATIONS === '1' || process.env.HERALD_TRACE_ALLOCATIONS === 'promoted') {
  // 'promoted': leave out what scavenges freed, so what remains outlived the young generation.
  const includeObjectsCollectedByMinorGC = process.env.HERALD_TRACE_ALLOCATIONS === '1';
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC });
  process.once('SIGTERM', () => {
    session.post('HeapProfiler.stopSampling', (err, result) => {
      if (!err) allocations = topAllocators(result.profile.head);
    });
  });
}

/**
 * With HERALD_TRACE_HEAP=1, the live objects by constructor at two moments 3 s apart under load (heap
 * snapshots, which collect garbage first): what the worker keeps, and what it keeps more of.
 */
let heap = null;
if (process.env.HERALD_TRACE_HEAP === '1') {
  const counts = [];
  const snapshot = () => {
    const session = new Session();
    session.connect();
    let text = '';
    session.on('HeapProfiler.addHeapSnapshotChunk', (m) => {
      text += m.params.chunk;
    });
    session.post('HeapProfiler.takeHeapSnapshot', null, () => {
      session.disconnect();
      counts.push(countByConstructor(JSON.parse(text)));
      if (counts.length === 2) heap = heapGrowth(counts[0], counts[1]);
    });
  };
  setTimeout(snapshot, 6000).unref();
  setTimeout(snapshot, 9000).unref();
}

function countByConstructor(snap) {
  const {
    node_fields: fields,
    node_types: [types],
  } = snap.snapshot.meta;
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const byName = new Map();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]];
    const name = type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i + nameAt]] : `(${type})`;
    const entry = byName.get(name) ?? [0, 0];
    entry[0]++;
    entry[1] += snap.nodes[i + sizeAt];
    byName.set(name, entry);
  }
  return byName;
}

function heapGrowth(before, after) {
  return [...after]
    .map(([name, [count, bytes]]) => [name, count, bytes, count - (before.get(name)?.[0] ?? 0), bytes - (before.get(name)?.[1] ?? 0)])
    .sort((a, b) => b[2] - a[2])
    .slice(0, 25);
}

/** The 20 functions that allocated the most bytes themselves, with their file and line. */
function topAllocators(root) {
  const bytes = new Map();
  const walk = (node) => {
    const self = node.selfSize;
    if (self > 0) {
      const frame = node.callFrame;
      const key = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-3).join('/')}:${frame.lineNumber + 1}`;
      bytes.set(key, (bytes.get(key) ?? 0) + self);
    }
    for (const child of node.children) walk(child);
  };
  walk(root);
  return [...bytes].sort((a, b) => b[1] - a[1]).slice(0, 20);
}

process.on('exit', () => {
  if (!file) return;
  const ms = (ns) => ns / 1e6;
  writeFileSync(
    file,
    JSON.stringify({
      allocations,
      heap,
      stages: Object.fromEntries(stages),
      gcPauses,
      loopDelayMs: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) },
    }),
  );
});
