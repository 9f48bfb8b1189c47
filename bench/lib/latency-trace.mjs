/**
 * `npm run bench -- --only latency --trace`: where Herald's enqueue → delivered time goes. One
 * latency run of Herald's Gotify worker per round, as in the latency rounds, with stage times noted
 * per notification: in the producer (the call, the start of its enqueue transaction after any linger,
 * the answer; producer.mjs enqueueTrace), in the worker (its job at the processor, its load read,
 * its provider request started; trace-worker.mjs, preloaded) and at the sink (arrival). Prints each
 * stage's p50/p99 and, for the slowest 1 % of notifications, each stage's mean share: what the tail
 * is made of. The worker's GC pauses and event-loop delay are printed beside it.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { latencyRun } from './trials.mjs';
import { percentile } from './util.mjs';

const PRELOAD = new URL('./trace-worker.mjs', import.meta.url).pathname;

/** The stages, each from one timestamp of a notification to the next. */
const STAGES = [
  ['call lag', 'scheduled', 'called'],
  ['linger', 'called', 'batched'],
  ['to fetched', 'batched', 'fetched'],
  ['to processor', 'fetched', 'atProcessor'],
  ['load', 'atProcessor', 'loaded'],
  ['slot wait', 'loaded', 'sending'],
  ['request', 'sending', 'arrived'],
];

export async function latencyTrace(ctx, { rounds, loads, latency, log, workerFlags = [], allocations = false, heap = false }) {
  for (let round = 0; round < rounds; round++) {
    // With worker flags (`--worker-flags`), rounds alternate between the worker without and with them.
    const flags = workerFlags.length > 0 && round % 2 === 1 ? workerFlags : [];
    const file = join(ctx.workDir, `trace-${round}.json`);
    const env = ctx.heraldEnv;
    ctx.heraldEnv = {
      ...env,
      HERALD_TRACE_FILE: file,
      HERALD_TRACE_ALLOCATIONS: allocations === true ? '1' : allocations || '0',
      HERALD_TRACE_HEAP: heap ? '1' : '0',
    };
    ctx.trace = true;
    let byLoad;
    // Redis runs one command at a time: its slow log says whether a long script held everyone up.
    await ctx.redis.config('SET', 'slowlog-log-slower-than', '1000');
    await ctx.redis.slowlog('RESET');
    try {
      byLoad = await latencyRun(ctx, 'gotify', loads, { ...latency, execArgv: [...flags, '--import', PRELOAD] });
    } finally {
      ctx.heraldEnv = env;
      ctx.trace = false;
    }
    const slow = await ctx.redis.slowlog('GET', 1000);
    await ctx.redis.config('SET', 'slowlog-log-slower-than', '10000');
    const slowest = slow
      .map(([, , us, args]) => [
        us,
        args
          .slice(0, 3)
          .map((a) => String(a).slice(0, 40))
          .join(' '),
      ])
      .sort((a, b) => b[0] - a[0])
      .slice(0, 8);
    log(`Redis commands over 1 ms: ${slow.length}${slowest.map(([us, what]) => `\n  ${(us / 1000).toFixed(1)} ms ${what}`).join('')}`);
    const worker = JSON.parse(readFileSync(file, 'utf8'));
    rmSync(file);
    for (const load of loads) {
      const run = byLoad[load.label];
      const lines = breakdown(run, worker);
      log(
        `trace round ${round + 1}${flags.length > 0 ? ` (worker ${flags.join(' ')})` : ''}, ${load.label} (${load.perSecond}/s): p50 ${run.p50.toFixed(1)} p99 ${run.p99?.toFixed(1)} ms\n${lines.join('\n')}`,
      );
    }
    // V8's kinds: 1 a scavenge (young generation), 2 a mark-compact, 4 incremental marking, 8 weak callbacks.
    const byKind = new Map();
    for (const pause of worker.gcPauses) byKind.set(pause[2], [...(byKind.get(pause[2]) ?? []), pause]);
    const gcByKind = [...byKind].map(
      ([kind, pauses]) =>
        `kind ${kind}: ${pauses.length}, ${pauses.reduce((sum, [, d]) => sum + d, 0).toFixed(0)} ms, p50 ${percentile(
          pauses.map(([, d]) => d),
          50,
        ).toFixed(1)}, longest ${Math.max(...pauses.map(([, d]) => d)).toFixed(1)} ms`,
    );
    if (worker.heap) {
      log(
        `worker's live objects by constructor, largest first (count, bytes; change over 3 s under load):\n${worker.heap.map(([name, count, bytes, dCount, dBytes]) => `  ${String(count).padStart(8)} ${(bytes / 1024).toFixed(0).padStart(7)} KiB  ${dCount >= 0 ? '+' : ''}${dCount} / ${dBytes >= 0 ? '+' : ''}${(dBytes / 1024).toFixed(0)} KiB  ${name}`).join('\n')}`,
      );
    }
    if (worker.allocations) {
      const all = worker.allocations.reduce((sum, [, bytes]) => sum + bytes, 0);
      log(
        `worker allocations, top 20 functions by bytes (sampled, ${(all / 2 ** 20).toFixed(0)} MiB in these):\n${worker.allocations.map(([where, bytes]) => `  ${(bytes / 2 ** 20).toFixed(1).padStart(6)} MiB ${where}`).join('\n')}`,
      );
    }
    log(
      `worker GC pauses (${gcByKind.join('; ')}); ` +
        `event-loop delay p50 ${worker.loopDelayMs.p50.toFixed(1)} p99 ${worker.loopDelayMs.p99.toFixed(1)} max ${worker.loopDelayMs.max.toFixed(1)} ms`,
    );
  }
}

/** Each stage's p50 and p99 over the run's notifications, and its mean over the slowest 1 %. */
function breakdown(run, worker) {
  const { tag, startAt, intervalMs, arrivals, enqueue } = run.traced;
  const rows = [];
  let handedOver = 0;
  for (let i = 0; i < arrivals.length; i++) {
    const stages = worker.stages[`bench.${tag}.${i}`];
    if (!stages || arrivals[i] === null) continue;
    const scheduled = startAt + i * intervalMs;
    const t = {
      scheduled,
      called: scheduled + enqueue.lags[i],
      batched: enqueue.batchAt[i],
      // A job BullMQ handed over with the completion of the previous one has no fetch of its own.
      fetched: stages[3] ?? stages[0],
      atProcessor: stages[0],
      loaded: stages[1],
      sending: stages[2],
      arrived: arrivals[i],
    };
    if (stages[3] === null) handedOver++;
    rows.push({
      span: [t.batched, t.arrived],
      second: Math.floor((scheduled - startAt) / 1000),
      total: t.arrived - scheduled,
      answer: enqueue.answeredAt[i] - t.batched,
      batch: enqueue.batchSize[i],
      parts: STAGES.map(([, a, b]) => t[b] - t[a]),
    });
  }
  rows.sort((a, b) => a.total - b.total);
  const slowest = rows.slice(Math.floor(rows.length * 0.99));
  const mean = (values) => values.reduce((sum, v) => sum + v, 0) / Math.max(1, values.length);
  const lines = STAGES.map(([name], k) => {
    const values = rows.map((r) => r.parts[k]);
    return `  ${name.padEnd(13)} p50 ${fmt(percentile(values, 50))}  p99 ${fmt(percentile(values, 99))}  slowest 1 %: ${fmt(mean(slowest.map((r) => r.parts[k])))} ms`;
  });
  // Whether a worker GC pause of 2 ms or more fell between a notification's transaction and its arrival.
  const pauses = worker.gcPauses.filter(([, duration]) => duration >= 2);
  const hitByGc = (row) => pauses.some(([at, duration]) => at < row.span[1] && at + duration > row.span[0]);
  const share = (list) => `${((100 * list.filter(hitByGc).length) / Math.max(1, list.length)).toFixed(0)} %`;
  lines.push(`  a worker GC pause of 2 ms or more while under way: ${share(slowest)} of the slowest 1 %, ${share(rows)} of all`);
  // When in the run the slowest 1 % were due: a start-up effect would crowd them into the first seconds.
  const bySecond = new Map();
  for (const row of slowest) bySecond.set(row.second, (bySecond.get(row.second) ?? 0) + 1);
  lines.push(
    `  the slowest 1 % by second of the run: ${[...bySecond]
      .sort((a, b) => a[0] - b[0])
      .map(([second, n]) => `${second}s ${n}`)
      .join(', ')}`,
  );
  lines.push(
    `  (enqueue answered ${fmt(
      percentile(
        rows.map((r) => r.answer),
        50,
      ),
    )} / ${fmt(
      percentile(
        rows.map((r) => r.answer),
        99,
      ),
    )} ms after its transaction started, p50 / p99; ` +
      `transaction size p50 ${percentile(
        rows.map((r) => r.batch),
        50,
      )}; ${rows.length} notifications traced, ${handedOver} of them in jobs handed over on a completion)`,
  );
  return lines;
}

function fmt(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(1).padStart(6) : '     —';
}
