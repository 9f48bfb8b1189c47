/**
 * Overview: the deployment's figures from GET /v1/stats (per-channel success rate and latency
 * percentiles, queue depths, workers) and the throughput chart. Events from the stream redraw the
 * chart at once and fetch the figures again, at most once per STATS_DEBOUNCE_MS.
 */
import { api, describe } from './api.js';
import { badge, duration, el, notice, percent, replace, svg, when } from './dom.js';

const STATS_DEBOUNCE_MS = 750;
const WINDOWS = [
  [300, 'last 5 minutes'],
  [3600, 'last hour'],
  [86_400, 'last 24 hours'],
];
let windowSeconds = 3600;

export function overview(view, { live }) {
  const chart = svg('svg', { class: 'chart', role: 'img', 'aria-label': 'Throughput over the last 10 minutes', preserveAspectRatio: 'xMidYMid meet' });
  const figures = el('div', { class: 'figures' });
  const channels = el('div', { class: 'card' });
  const queues = el('div', { class: 'card' });
  const workers = el('div', { class: 'card' });
  const status = el('div');
  const select = el(
    'select',
    { id: 'window', 'aria-label': 'Statistics window' },
    WINDOWS.map(([seconds, label]) => el('option', { value: seconds, selected: seconds === windowSeconds }, label)),
  );
  select.addEventListener('change', () => {
    windowSeconds = Number(select.value);
    refresh();
  });

  replace(
    view,
    el('div', { class: 'heading' }, el('h1', {}, 'Overview'), select),
    status,
    figures,
    el('section', { class: 'card' }, el('div', { class: 'card-head' }, el('h2', {}, 'Throughput'), legend()), chart),
    channels,
    el('div', { class: 'columns even' }, queues, workers),
  );

  let fetching = null;
  let again = false;
  const refresh = async () => {
    if (fetching) {
      again = true;
      return;
    }
    fetching = api('GET', `/v1/stats?window=${windowSeconds}`)
      .then((stats) => {
        replace(status);
        draw(stats);
      })
      .catch((err) => replace(status, notice(`Statistics unavailable: ${describe(err)}`)))
      .finally(() => {
        fetching = null;
        if (again) {
          again = false;
          refresh();
        }
      });
  };

  const draw = (stats) => {
    const n = stats.notifications;
    replace(
      figures,
      figure('Accepted', n.accepted, 'accepted'),
      figure('Delivered', n.delivered, 'delivered'),
      figure('Failed', n.failed, 'failed'),
      figure('Expired', n.expired, 'expired'),
      figure('Skipped', n.skipped, 'skipped'),
      figure('Success rate', percent(n.successRate), 'success-rate'),
      figure('Dead letters', stats.deadLetters, 'dead-letters', '#/dead-letters'),
    );
    replace(channels, el('h2', {}, 'Channels'), channelTable(stats.channels));
    replace(queues, el('h2', {}, 'Queues'), queueTable(stats.queues));
    replace(workers, el('h2', {}, 'Workers'), workerList(stats.workers));
  };

  let debounce = null;
  const stopListening = live.listen(() => {
    live.throughput.draw(chart);
    debounce ??= setTimeout(() => {
      debounce = null;
      refresh();
    }, STATS_DEBOUNCE_MS);
  });
  // Time passes even when nothing happens: the chart's window moves on.
  const tick = setInterval(() => live.throughput.draw(chart), 5000);
  const redraw = () => live.throughput.draw(chart);
  window.addEventListener('resize', redraw);
  live.throughput.draw(chart);
  refresh();

  return () => {
    stopListening();
    clearInterval(tick);
    window.removeEventListener('resize', redraw);
    clearTimeout(debounce);
  };
}

function legend() {
  return el(
    'ul',
    { class: 'legend' },
    el('li', { class: 'key-delivered' }, 'delivered'),
    el('li', { class: 'key-failed' }, 'failed or expired'),
    el('li', { class: 'key-accepted' }, 'accepted'),
    el('li', { class: 'key-unit' }, 'per 10 s'),
  );
}

function figure(label, value, name, href) {
  const body = [el('span', { class: 'figure-value', 'data-figure': name }, value ?? '—'), el('span', { class: 'figure-label' }, label)];
  return href ? el('a', { class: 'figure', href }, body) : el('div', { class: 'figure' }, body);
}

/** A table; a heading given as [text, 'wide'] marks a column that phones leave out. */
function table(head, rows, empty) {
  if (rows.length === 0) return el('p', { class: 'empty' }, empty);
  const th = (h) => (Array.isArray(h) ? el('th', { class: h[1] }, h[0]) : el('th', {}, h));
  return el('div', { class: 'scroll' }, el('table', {}, el('thead', {}, el('tr', {}, head.map(th))), el('tbody', {}, rows)));
}

function channelTable(channels) {
  const rows = Object.entries(channels ?? {}).map(([name, c]) =>
    el(
      'tr',
      { 'data-channel': name },
      el('th', { scope: 'row' }, name),
      el('td', { class: 'num wide' }, c.attempts),
      el('td', { class: 'num wide' }, c.delivered),
      el('td', { class: 'num wide' }, c.failedAttempts),
      el('td', { class: 'num', 'data-figure': `${name}.successRate` }, percent(c.successRate)),
      el('td', { class: 'num' }, duration(c.latencyMs?.p50)),
      el('td', { class: 'num' }, duration(c.latencyMs?.p95)),
      el('td', { class: 'num' }, duration(c.latencyMs?.p99)),
    ),
  );
  return table(
    ['channel', ['attempts', 'wide'], ['delivered', 'wide'], ['failed tries', 'wide'], 'success', 'p50', 'p95', 'p99'],
    rows,
    'No channel has figures yet.',
  );
}

function queueTable(queues) {
  const rows = Object.entries(queues ?? {}).map(([name, q]) =>
    el(
      'tr',
      {},
      el('th', { scope: 'row' }, name),
      el('td', { class: 'num' }, q.waiting),
      el('td', { class: 'num' }, q.active),
      el('td', { class: 'num' }, q.delayed),
    ),
  );
  return table(['queue', 'waiting', 'active', 'delayed'], rows, 'No queues.');
}

function workerList(workers) {
  if (!workers?.length) return el('p', { class: 'empty' }, 'No worker has reported. Start one with `herald worker`.');
  return el(
    'ul',
    { class: 'workers' },
    workers.map((w) =>
      el('li', {}, badge('live'), el('code', {}, w.id), el('span', {}, w.channels.join(', ')), el('time', { datetime: w.lastSeen }, when(w.lastSeen))),
    ),
  );
}
