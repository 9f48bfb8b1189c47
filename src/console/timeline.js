/** A notification's attempts as a timeline, oldest first: what each channel answered, and when. */
import { badge, duration, el, when } from './dom.js';

export function timeline(attempts, omitted = 0) {
  if (!attempts?.length) return el('p', { class: 'empty' }, 'No attempt yet.');
  return el(
    'ol',
    { class: 'timeline' },
    omitted ? el('li', { class: 'omitted' }, `${omitted} earlier attempts not kept`) : null,
    attempts.map((a) =>
      el(
        'li',
        { class: `step step-${a.outcome}`, 'data-outcome': a.outcome },
        el('div', { class: 'step-head' }, badge(a.outcome), el('strong', {}, a.channel), el('time', { datetime: a.at }, when(a.at))),
        el(
          'div',
          { class: 'step-body' },
          a.code ? el('code', {}, a.code) : null,
          a.statusCode ? el('span', {}, `HTTP ${a.statusCode}`) : null,
          a.durationMs !== undefined ? el('span', {}, duration(a.durationMs)) : null,
          a.error ? el('span', { class: 'step-error' }, a.error) : null,
        ),
      ),
    ),
  );
}
