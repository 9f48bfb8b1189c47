/**
 * `npm run bench -- --profile`: where the time goes in a `herald worker` at its maximum Gotify
 * rate. The worker runs under `node --cpu-prof` while it drains a prefilled queue; the V8 profile
 * is then summarised by module (Herald's files, each package, Node's internals, GC) and by
 * function, as self time (the function itself) and inclusive time (it or anything it called,
 * each sample counted once per stack). Redis's share is read beside it: CPU of redis-server and
 * the commands it ran per delivery.
 */
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deliveryRun } from './trials.mjs';

/** A readable module name for a V8 call frame URL. */
export function moduleOf(frame) {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === '(garbage collector)') return '(gc)';
    if (functionName === '(program)') return '(program: native code outside JS)';
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(root)') return '(root)';
    return '(native builtins)';
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1];
  const herald = /\/dist\/((?:src|workers)\/.+)\.js$/.exec(url);
  if (herald) return `herald ${herald[1]}`;
  const internal = /^node:(?:internal\/)?([^/]+)/.exec(url);
  if (internal) return `node:${internal[1]}`;
  return url;
}

function frameName(frame) {
  const where = frame.url ? `${moduleOf(frame)}:${frame.lineNumber + 1}` : moduleOf(frame);
  return `${frame.functionName || '(anonymous)'} ${where}`;
}

/**
 * Who a sample's time belongs to, for the question "is it the queue, our scripts or the HTTP
 * request?". A sample goes to the first owner, in this order, with a frame on its (synchronous)
 * stack: so a socket write made while sending the transition script counts as the transition's,
 * and ioredis parsing a reply nobody on the stack asked for counts as ioredis's own.
 */
const OWNERS = [
  { name: 'Herald transition script (build + send)', test: (_f, m) => m === 'herald src/store/notifications' || m === 'herald src/store/stats-counters' },
  {
    name: 'Herald load script (send) and record parsing',
    test: (f, m) =>
      (m === 'herald src/delivery/processor' && f.functionName === 'load') || m === 'herald src/store/record' || m === 'herald src/store/recipients',
  },
  {
    name: 'Herald Gotify adapter (request build, undici call)',
    test: (_f, m) => m === 'herald src/channels/gotify' || m === 'herald src/channels/http-client',
  },
  { name: 'BullMQ job cycle (fetch, lock, moveToFinished, events)', test: (_f, m) => m === 'bullmq' || m === 'msgpackr' },
  { name: 'Herald processor logic (plan, attempts, logging)', test: (_f, m) => m.startsWith('herald ') },
  { name: 'undici (response parsing, socket I/O)', test: (f, m) => m === 'undici' || f.url.startsWith('wasm://') },
  { name: 'ioredis (reply parsing, promise resolution)', test: (_f, m) => m === 'ioredis' || m === '@ioredis/commands' || m === 'redis-errors' },
  { name: 'garbage collection', test: (f) => f.functionName === '(garbage collector)' },
];

export function summariseProfile(profile, top = 25) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfByModule = new Map();
  const selfByFunction = new Map();
  const inclusiveByModule = new Map();
  const inclusiveByFunction = new Map();
  const byOwner = new Map();
  const add = (map, key, us) => map.set(key, (map.get(key) ?? 0) + us);
  let totalUs = 0;
  let idleUs = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    totalUs += us;
    if (node.callFrame.functionName === '(idle)') {
      idleUs += us;
      return;
    }
    add(selfByModule, moduleOf(node.callFrame), us);
    add(selfByFunction, frameName(node.callFrame), us);
    // Inclusive: every module and function on this stack, once each even under recursion.
    const modules = new Set();
    const functions = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at).callFrame;
      if (frame.functionName === '(root)') continue;
      modules.add(moduleOf(frame));
      functions.add(frameName(frame));
    }
    const stack = [];
    for (let at = id; at !== undefined; at = parent.get(at)) stack.push(byId.get(at).callFrame);
    const owner = OWNERS.find((o) => stack.some((f) => o.test(f, moduleOf(f))));
    add(byOwner, owner?.name ?? 'other (Node internals: timers, streams, microtasks)', us);
    for (const m of modules) add(inclusiveByModule, m, us);
    for (const f of functions) add(inclusiveByFunction, f, us);
  });
  const busyUs = totalUs - idleUs;
  const rank = (map, n) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), percentOfBusy: Math.round((us / busyUs) * 1000) / 10 }));
  return {
    wallMs: Math.round(totalUs / 1000),
    busyMs: Math.round(busyUs / 1000),
    idlePercent: Math.round((idleUs / totalUs) * 1000) / 10,
    byOwner: rank(byOwner, OWNERS.length + 1),
    selfByModule: rank(selfByModule, top),
    inclusiveByModule: rank(inclusiveByModule, top),
    selfByFunction: rank(selfByFunction, top),
    inclusiveByFunction: rank(inclusiveByFunction, top),
  };
}

function printRanking(title, rows) {
  process.stdout.write(`\n${title}\n`);
  for (const row of rows) process.stdout.write(`  ${String(row.percentOfBusy.toFixed(1)).padStart(5)} %  ${String(row.ms).padStart(6)} ms  ${row.name}\n`);
}

export async function profileWorker(ctx, { count, outDir, log }) {
  log(`profile: unprofiled Gotify run of ${count} for reference`);
  const plain = await deliveryRun(ctx, 'gotify', count);
  log(`profile: ${Math.round(plain.perSecond)}/s unprofiled; now under --cpu-prof`);
  const dir = join(ctx.workDir, 'profile');
  const profiled = await deliveryRun(ctx, 'gotify', count, { execArgv: ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', 'herald-worker.cpuprofile'] });
  const file = join(
    dir,
    readdirSync(dir).find((f) => f.endsWith('.cpuprofile')),
  );
  copyFileSync(file, join(outDir, 'herald-worker.cpuprofile'));
  const summary = summariseProfile(JSON.parse(readFileSync(file, 'utf8')));
  const perDelivery = Object.fromEntries(
    Object.entries(profiled.redisCommands)
      .sort((a, b) => b[1].usec - a[1].usec)
      .map(([name, c]) => [name, { callsPerDelivery: Math.round((c.calls / count) * 100) / 100, redisUsPerDelivery: Math.round((c.usec / count) * 10) / 10 }]),
  );
  const report = {
    generatedAt: new Date().toISOString(),
    count,
    concurrency: ctx.concurrency,
    deliveredPerSecond: { unprofiled: plain.perSecond, profiled: profiled.perSecond },
    cpu: { unprofiled: plain.cpu, profiled: profiled.cpu },
    redisCommandsPerDelivery: perDelivery,
    workerProfile: summary,
  };
  writeFileSync(join(outDir, 'profile.json'), `${JSON.stringify(report, null, 2)}\n`);

  const share = (cpu, name) =>
    cpu?.[name] ? `${(cpu[name].coreShare * 100).toFixed(0)} % of a core, ${cpu[name].msPerNotification.toFixed(3)} ms/delivery` : '—';
  process.stdout.write(`\nherald worker at max Gotify load: ${Math.round(plain.perSecond)}/s (${Math.round(profiled.perSecond)}/s under the profiler)\n`);
  process.stdout.write(
    `CPU (unprofiled run): worker ${share(plain.cpu, 'worker')}; redis-server ${share(plain.cpu, 'redis')}; sink ${share(plain.cpu, 'sink')}\n`,
  );
  process.stdout.write(`worker busy ${summary.busyMs} ms of ${summary.wallMs} ms profiled (idle ${summary.idlePercent} %)\n`);
  process.stdout.write('\nRedis commands per delivery (calls, server µs):\n');
  for (const [name, c] of Object.entries(perDelivery))
    process.stdout.write(`  ${name.padEnd(16)} ${String(c.callsPerDelivery).padStart(6)}  ${String(c.redisUsPerDelivery).padStart(7)} µs\n`);
  printRanking('Busy time by owner (each sample to the first owner on its stack, in this order of precedence):', summary.byOwner);
  printRanking('Self time by module (% of busy):', summary.selfByModule);
  printRanking('Inclusive time by module:', summary.inclusiveByModule);
  printRanking('Self time by function:', summary.selfByFunction);
  printRanking('Inclusive time by function:', summary.inclusiveByFunction);
  log(`wrote ${join(outDir, 'profile.json')} and herald-worker.cpuprofile`);
}
