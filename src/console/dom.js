/**
 * Building the page without HTML strings: every text the API returns (titles, error texts, ids)
 * goes in as a text node, so nothing a producer wrote can become markup or script.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * An element: `el('button', { class: 'primary', onclick: fn }, 'Replay')`. Attributes whose name
 * starts with `on` become listeners; `false`, null and undefined attributes are left out; children
 * are nodes, strings (text) or arrays of them, null skipped.
 */
export function el(tag, attributes = {}, ...children) {
  return fill(document.createElement(tag), attributes, children);
}

/** The same for SVG elements (the chart). */
export function svg(tag, attributes = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attributes, children);
}

function fill(node, attributes, children) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces every child of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** A ratio (0…1) as a percentage, or an em dash when there is none yet. */
export function percent(ratio) {
  return ratio === null || ratio === undefined ? '—' : `${(ratio * 100).toFixed(ratio === 1 ? 0 : 1)} %`;
}

/** Milliseconds, readable: 840 ms, 2.4 s, 3.1 min. */
export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** An ISO time as the browser's local date and time, to the second. */
export function when(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

/** A status or outcome as a coloured badge (the colour comes from its class in console.css). */
export function badge(word) {
  return el('span', { class: `badge badge-${word}` }, word);
}

/** A definition list from [label, value] pairs, values left out when undefined. */
export function facts(pairs) {
  return el(
    'dl',
    { class: 'facts' },
    pairs.filter(([, value]) => value !== undefined && value !== null && value !== '').map(([label, value]) => [el('dt', {}, label), el('dd', {}, value)]),
  );
}

/** A message box for an error or a notice. */
export function notice(text, kind = 'error') {
  return el('p', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}
