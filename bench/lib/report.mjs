/**
 * Turns the raw runs into the figures: medians over rounds, each figure's ratio to the ceiling
 * and to the naive way of the same run, the issue's targets, then the table and latest.json.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { median, ratio } from './util.mjs';

/** The targets (issues #7 and #20), each read from the summarised figures. */
const TARGETS = [
  { name: 'Gotify delivered/s ≥ 0.7 × the HTTP floor (steady)', read: (r) => r.delivery.gotify?.vsFloor, min: 0.7 },
  { name: 'p99 at 50 % load ≤ 1.2 × the no-op worker p99', read: (r) => r.latency.loads.find((l) => l.label === '50%')?.p99VsCeiling, max: 1.2 },
  { name: 'Web Push delivered/s ≥ 4 × naive sendNotification', read: (r) => r.delivery.webpush?.vsNaive, min: 4 },
  { name: 'Gotify delivered/s ≥ 0.6 × ceiling', read: (r) => r.delivery.gotify?.vsCeiling, min: 0.6 },
  { name: 'Gotify delivered/s ≥ 3 × naive fetch', read: (r) => r.delivery.gotify?.vsNaive, min: 3 },
  { name: 'SDK enqueue ≥ 0.9 × addBulk', read: (r) => r.enqueue.sdkNotifyMany?.vsCeiling, min: 0.9 },
];

function medianOf(values) {
  return median(values.filter((v) => v !== null && v !== undefined));
}

function deliveryFigures(raw, name) {
  const runs = raw.delivery.filter((r) => r.contender === name);
  if (runs.length === 0) return null;
  const cpu = (process) => ({
    coreShare: medianOf(runs.map((r) => r.cpu?.[process]?.coreShare)),
    msPerNotification: medianOf(runs.map((r) => r.cpu?.[process]?.msPerNotification)),
  });
  return {
    perSecond: medianOf(runs.map((r) => r.perSecond)),
    rounds: runs.map((r) => r.perSecond),
    withStartUpPerSecond: medianOf(runs.map((r) => r.withStartUpPerSecond)),
    peakRssMB: medianOf(runs.map((r) => r.peakRssMB)),
    cpu: { worker: cpu('worker'), redis: cpu('redis'), sink: cpu('sink') },
    redisScriptsPerNotification: medianOf(runs.map((r) => r.redisScriptsPerNotification)),
    redisUsPerNotification: medianOf(runs.map((r) => r.redisUsPerNotification)),
    allDelivered: runs.every((r) => r.finished && r.unique === r.count && r.problems === 0),
    count: runs[0].count,
  };
}

function latencyFigures(raw, contender, label) {
  const runs = raw.latency.filter((r) => r.contender === contender).map((r) => r.byLoad[label]);
  const pick = (key) => medianOf(runs.map((r) => r[key]));
  return {
    p50: pick('p50'),
    p95: pick('p95'),
    p99: pick('p99'),
    // Cores the benchmark's processes (producer, worker, Redis, sink) used while the load ran.
    benchCores: pick('benchCores'),
    rounds: runs.map(({ p50, p95, p99, missing, sendLagMs, cpu, backgroundCores }) => ({
      p50,
      p95,
      p99,
      missing,
      sendLagP99Ms: sendLagMs?.p99,
      cpu,
      backgroundCores,
    })),
  };
}

export function summarise({ raw, loads, unavailable, machine, preset, options, startedAt, concurrency, httpConcurrency }) {
  const enqueueRate = (kind) => {
    const runs = raw.enqueue.filter((r) => r.kind === kind);
    const cpu = (name) => ({
      coreShare: medianOf(runs.map((r) => r.cpu?.[name]?.coreShare)),
      msPerNotification: medianOf(runs.map((r) => r.cpu?.[name]?.msPerNotification)),
    });
    return {
      perSecond: medianOf(runs.map((r) => r.perSecond)),
      rounds: runs.map((r) => r.perSecond),
      count: runs[0]?.count,
      cpu: { producer: cpu('producer'), redis: cpu('redis'), api: cpu('api') },
    };
  };
  const addBulk = enqueueRate('addbulk');
  const sdk = enqueueRate('sdk');
  const http = enqueueRate('http');
  // For enqueueing, the naive producer and the ceiling are the same thing: raw addBulk.
  sdk.vsCeiling = sdk.vsNaive = ratio(sdk.perSecond, addBulk.perSecond);
  http.vsCeiling = http.vsNaive = ratio(http.perSecond, addBulk.perSecond);

  const delivery = {};
  for (const name of ['floor', 'ceiling', 'naiveFetch', 'naiveWebPush', 'httpFloor', 'gotify', 'webpush', 'email']) delivery[name] = deliveryFigures(raw, name);
  const ceiling = delivery.ceiling?.perSecond;
  // Herald against the floor, both ways: the median of the per-round ratios (each round runs both
  // back to back, so a ratio is taken under one machine load), steady and including start-up.
  if (delivery.gotify && delivery.floor) {
    const perRound = (key) =>
      medianOf(
        raw.delivery
          .filter((r) => r.contender === 'gotify')
          .map((r) => ratio(r[key], raw.delivery.find((f) => f.contender === 'floor' && f.round === r.round)?.[key])),
      );
    delivery.gotify.vsFloor = perRound('perSecond');
    delivery.gotify.vsFloorWithStartUp = perRound('withStartUpPerSecond');
  }
  const naiveFor = { gotify: 'naiveFetch', webpush: 'naiveWebPush', httpFloor: 'naiveFetch' };
  for (const [name, figures] of Object.entries(delivery)) {
    if (!figures) continue;
    figures.vsCeiling = ratio(figures.perSecond, ceiling);
    const naive = naiveFor[name] ? delivery[naiveFor[name]] : null;
    figures.vsNaive = naive ? ratio(figures.perSecond, naive.perSecond) : null;
    figures.rssVsCeiling = ratio(figures.peakRssMB, delivery.ceiling?.peakRssMB);
    figures.rssVsNaive = naive ? ratio(figures.peakRssMB, naive.peakRssMB) : null;
  }

  const latency = {
    gotifyMaxPerSecond: loads[0] ? loads[0].perSecond / loads[0].fraction : null,
    loads: loads.map((load) => {
      const herald = latencyFigures(raw, 'gotify', load.label);
      const naive = latencyFigures(raw, 'naiveFetch', load.label);
      const queue = latencyFigures(raw, 'ceiling', load.label);
      return {
        label: load.label,
        fraction: load.fraction,
        offeredPerSecond: load.perSecond,
        herald,
        naiveFetch: naive,
        ceiling: queue,
        // Per round (the two ran in the same round, a minute apart), then the median.
        p99VsCeiling: medianOf(
          raw.latency
            .filter((r) => r.contender === 'gotify')
            .map((r) => ratio(r.byLoad[load.label]?.p99, raw.latency.find((c) => c.contender === 'ceiling' && c.round === r.round)?.byLoad[load.label]?.p99)),
        ),
        p99VsNaive: ratio(herald.p99, naive.p99),
      };
    }),
  };

  // One notification to each member of a topic: by one topic notification, against notifyMany.
  const topicFigures = (kind) => {
    const runs = raw.topics.filter((r) => r.kind === kind);
    return {
      perSecond: medianOf(runs.map((r) => r.perSecond)),
      rounds: runs.map((r) => r.perSecond),
      acceptMs: medianOf(runs.map((r) => r.acceptMs)),
      allReceived: runs.every((r) => r.finished && r.problems === 0),
    };
  };
  const topics = raw.topics.length ? { members: raw.topics[0].members, topic: topicFigures('topic'), notifyMany: topicFigures('notifyMany') } : null;
  if (topics) topics.topicVsNotifyMany = ratio(topics.topic.perSecond, topics.notifyMany.perSecond);

  const memory = {
    heraldBytesPerNotification: raw.memory.herald.bytesPerNotification,
    bullmqBytesPerJob: raw.memory.bullmq.bytesPerNotification,
    count: raw.memory.herald.count,
  };
  memory.vsCeiling = memory.vsNaive = ratio(memory.heraldBytesPerNotification, memory.bullmqBytesPerJob);

  // CPU that programs outside the benchmark used during each measurement, in cores.
  const background = [
    ...raw.enqueue.map((r) => r.backgroundCores),
    ...raw.delivery.map((r) => r.backgroundCores),
    ...raw.topics.map((r) => r.backgroundCores),
    ...raw.latency.flatMap((r) => Object.values(r.byLoad).map((l) => l.backgroundCores)),
  ].filter((v) => typeof v === 'number');

  const results = {
    generatedAt: new Date().toISOString(),
    durationSeconds: Math.round((Date.now() - startedAt) / 1000),
    mode: options.quick ? 'quick' : 'full',
    machine,
    settings: {
      rounds: preset.rounds,
      latencyRounds: preset.latency.rounds,
      workerConcurrency: concurrency,
      httpConcurrency,
      enqueueBatch: 1000,
      counts: { enqueue: preset.enqueue, delivery: preset.delivery, memory: preset.memory, topicMembers: preset.topicMembers },
      latency: { durationMs: preset.latency.durationMs, warmupMs: preset.latency.warmupMs },
      notes: [
        'Every contender runs as its own process on this machine, beside redis-server and the sinks; all share the same cores.',
        'Delivery: the queue is filled first, then one worker process drains it; the rate leaves out the first 10 % (start-up).',
        'Ratios: delivery vs the BullMQ no-op worker (ceiling) and the naive worker of the same channel; enqueue and memory vs raw addBulk (ceiling and naive producer are the same there).',
        'Latency: open loop, one notify()/Queue#add per notification at its scheduled time; measured from the scheduled time to the sink receiving it, so producer lag counts too.',
        'Notifications name their targets explicitly (no recipient lookups); email has no naive contender.',
        'Topic fan-out: members registered and in the topic first; a Gotify worker runs; then one topic notification, or notifyMany of one notification per member (recipient lookups in both); members / (last arrival − first call).',
      ],
    },
    unavailable,
    backgroundLoad: { medianCores: medianOf(background), maxCores: background.length ? Math.max(...background) : null, measurements: background.length },
    enqueue: { addBulk, sdkNotifyMany: sdk, http },
    delivery,
    topics,
    latency,
    memory,
  };
  results.targets = TARGETS.map((t) => {
    const value = t.read(results);
    const met = value === null || value === undefined ? null : t.min !== undefined ? value >= t.min : value <= t.max;
    return { name: t.name, value, met };
  });
  return results;
}
summarise.medianOf = medianOf;

const num = (v, digits = 0) =>
  v === null || v === undefined || Number.isNaN(v) ? '—' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const times = (v) => (v === null || v === undefined ? '—' : `${v.toFixed(2)}×`);

/** The results as a Markdown table: the same text goes to the terminal and into latest.json. */
export function renderTable(r) {
  const rows = [['figure', 'value', 'vs ceiling', 'vs naive']];
  const d = r.delivery;
  const e = r.enqueue;
  rows.push(['**Enqueue** (notifications/s)', '', '', '']);
  rows.push([`raw BullMQ addBulk, batches of 1000 (ceiling)`, num(e.addBulk.perSecond), '1.00×', '']);
  rows.push([`Herald SDK notifyMany, batches of 1000`, num(e.sdkNotifyMany.perSecond), times(e.sdkNotifyMany.vsCeiling), '']);
  rows.push([`Herald HTTP POST /v1/notifications, ${r.settings.httpConcurrency} in flight`, num(e.http.perSecond), times(e.http.vsCeiling), '']);
  rows.push([`**Delivered/s** (one worker process, concurrency ${r.settings.workerConcurrency})`, '', '', '']);
  const line = (label, f) =>
    f ? rows.push([label, num(f.perSecond) + (f.allDelivered ? '' : ' (!)'), times(f.vsCeiling), times(f.vsNaive)]) : rows.push([label, 'not run', '', '']);
  line('undici pool, no queue (the HTTP floor)', d.floor);
  line('BullMQ no-op worker (ceiling)', d.ceiling);
  line('naive: fetch per job → Gotify sink', d.naiveFetch);
  line('naive: web-push sendNotification per job → push sink', d.naiveWebPush);
  line('reference: undici keep-alive request per job, nothing else → Gotify sink', d.httpFloor);
  line('Herald worker → Gotify', d.gotify);
  if (d.gotify?.vsFloor !== undefined) {
    rows.push(['  Herald → Gotify ÷ the floor: steady; including start-up', `${times(d.gotify.vsFloor)}; ${times(d.gotify.vsFloorWithStartUp)}`, '', '']);
    rows.push(['  delivered/s including start-up: Herald; the floor', `${num(d.gotify.withStartUpPerSecond)}; ${num(d.floor.withStartUpPerSecond)}`, '', '']);
  }
  line('Herald worker → Web Push', d.webpush);
  line('Herald worker → email (SMTP)', d.email);
  const t = r.topics;
  if (t) {
    rows.push([`**Topic fan-out**: members notified/s, ${num(t.members)} members, one Gotify worker`, '', '', '']);
    const mark = (f) => (f.allReceived ? '' : ' (!)');
    rows.push([`one topic notification (call: ${num(t.topic.acceptMs)} ms), fanned out by the worker`, num(t.topic.perSecond) + mark(t.topic), '', '']);
    rows.push([
      `  notifyMany to each member, batches of 1000 (calls: ${num(t.notifyMany.acceptMs)} ms)`,
      num(t.notifyMany.perSecond) + mark(t.notifyMany),
      '',
      '',
    ]);
    rows.push(['  topic ÷ notifyMany', times(t.topicVsNotifyMany), '', '']);
  }
  rows.push(['**Latency** enqueue → sink, ms (p50 / p95 / p99)', '', 'p99 vs ceiling', 'p99 vs naive']);
  for (const l of r.latency.loads) {
    const trio = (x) => `${num(x.p50, 1)} / ${num(x.p95, 1)} / ${num(x.p99, 1)}`;
    rows.push([
      `Herald at ${l.label} of max (${num(l.offeredPerSecond)}/s; ${num(l.herald.benchCores, 1)} of ${r.machine.cores} cores busy)`,
      trio(l.herald),
      times(l.p99VsCeiling),
      times(l.p99VsNaive),
    ]);
    rows.push([`  naive fetch worker, same load`, trio(l.naiveFetch), '', '']);
    rows.push([`  BullMQ no-op worker, same load`, trio(l.ceiling), '', '']);
  }
  rows.push(['**Resources**', '', '', '']);
  const enqueueCpu = (f) => `${num(f.cpu.producer.msPerNotification, 3)} + ${num(f.cpu.redis.msPerNotification, 3)}`;
  rows.push(['CPU ms per enqueued notification, producer + Redis: notifyMany', enqueueCpu(e.sdkNotifyMany), '', '']);
  rows.push(['  raw addBulk', enqueueCpu(e.addBulk), '', '']);
  if (d.gotify) rows.push(['Herald Gotify worker peak RSS, MB', num(d.gotify.peakRssMB), times(d.gotify.rssVsCeiling), times(d.gotify.rssVsNaive)]);
  if (d.ceiling && d.naiveFetch) rows.push(['  no-op worker; naive fetch worker, MB', `${num(d.ceiling.peakRssMB)}; ${num(d.naiveFetch.peakRssMB)}`, '', '']);
  if (d.webpush) rows.push(['Herald Web Push worker peak RSS, MB', num(d.webpush.peakRssMB), times(d.webpush.rssVsCeiling), times(d.webpush.rssVsNaive)]);
  if (d.gotify)
    rows.push([
      'Redis scripts per Gotify delivery (Herald / no-op / naive)',
      `${num(d.gotify.redisScriptsPerNotification, 1)} / ${num(d.ceiling?.redisScriptsPerNotification, 1)} / ${num(d.naiveFetch?.redisScriptsPerNotification, 1)}`,
      '',
      '',
    ]);
  const cpuRow = (label, f) => f && rows.push([label, `${num(f.cpu.worker.msPerNotification, 3)} + ${num(f.cpu.redis.msPerNotification, 3)}`, '', '']);
  cpuRow('CPU ms per delivery, worker + Redis: Herald → Gotify', d.gotify);
  cpuRow('  naive fetch worker', d.naiveFetch);
  cpuRow('  undici request per job (reference)', d.httpFloor);
  cpuRow('  BullMQ no-op worker', d.ceiling);
  cpuRow('  undici pool, no queue (the floor; no Redis)', d.floor);
  rows.push([
    'Redis bytes per queued notification (Herald; raw BullMQ job)',
    `${num(r.memory.heraldBytesPerNotification)}; ${num(r.memory.bullmqBytesPerJob)}`,
    times(r.memory.vsCeiling),
    times(r.memory.vsNaive),
  ]);

  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const fmtRow = (row) => `| ${row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join(' | ')} |`;
  const out = [
    fmtRow(rows[0]),
    `|${widths.map((w, c) => (c === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...rows.slice(1).map(fmtRow),
  ];
  return out.join('\n');
}

export function renderTargets(r) {
  return r.targets
    .map(
      (t) =>
        `${t.met === null ? '·' : t.met ? '✓' : '✗'} ${t.name}: ${t.value === null || t.value === undefined ? 'not measured' : t.name.includes('ms') ? `${t.value.toFixed(1)} ms` : `${t.value.toFixed(2)}×`}`,
    )
    .join('\n');
}

export function printTable(r) {
  const m = r.machine;
  process.stdout.write(
    `\nHerald benchmark (${r.mode}, ${r.settings.rounds} rounds, medians) — ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, Redis ${m.redis}, BullMQ ${m.bullmq}\n\n`,
  );
  process.stdout.write(`${renderTable(r)}\n\nTargets (issues #20 and #7):\n${renderTargets(r)}\n`);
  const b = r.backgroundLoad;
  if (b.medianCores !== null)
    process.stdout.write(
      `Other programs on this machine used ${b.medianCores.toFixed(2)} cores (median; max ${b.maxCores.toFixed(2)}) during the measurements.\n`,
    );
  for (const [name, reason] of Object.entries(r.unavailable)) process.stdout.write(`not measured: ${name} — ${reason}\n`);
  process.stdout.write('\n');
}

export function writeResults(r, dir) {
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify({ ...r, table: renderTable(r) }, null, 2)}\n`);
}
