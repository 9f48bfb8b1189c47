/**
 * A notification looked up by id: its status record, its attempts as a timeline, and a cancel
 * button while it has not ended. Events about it reload it, so the page follows it live.
 */
import { ApiError, api, describe, segment } from './api.js';
import { badge, el, facts, notice, replace, when } from './dom.js';
import { timeline } from './timeline.js';

const ENDED = new Set(['delivered', 'failed', 'expired', 'skipped', 'canceled', 'merged']);

export function notification(view, { live, params }) {
  const id = params[0] ?? '';
  const input = el('input', {
    id: 'notification-id',
    name: 'id',
    value: id,
    placeholder: 'notification id',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const result = el('div');
  const form = el('form', { class: 'inline' }, input, el('button', { class: 'primary', type: 'submit' }, 'Look up'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = `#/notification/${encodeURIComponent(input.value.trim())}`;
  });
  replace(view, el('div', { class: 'heading' }, el('h1', {}, 'Notification')), form, result);
  if (!id) return () => {};

  const load = async () => {
    try {
      show(await api('GET', `/v1/notifications/${segment(id)}`));
    } catch (err) {
      replace(result, notice(err instanceof ApiError && err.status === 404 ? `No notification ${id}.` : describe(err)));
    }
  };

  const show = (status, message) => {
    const cancel =
      ENDED.has(status.status) || status.status === undefined
        ? null
        : el('button', { class: 'danger', type: 'button', id: 'cancel', onclick: () => cancelIt() }, 'Cancel');
    replace(
      result,
      el(
        'section',
        { class: 'card', 'data-notification': status.id },
        el('div', { class: 'card-head' }, el('h2', {}, el('code', {}, status.id)), el('span', { id: 'status' }, badge(status.status)), cancel),
        message ?? null,
        facts([
          ['recipient', status.to ? el('a', { href: `#/recipient/${encodeURIComponent(status.to)}` }, status.to) : undefined],
          ['topic', status.topic],
          ['channel', status.channel],
          ['created', when(status.createdAt)],
          ['updated', when(status.updatedAt)],
          ['merged into', status.mergedInto ? el('a', { href: `#/notification/${encodeURIComponent(status.mergedInto)}` }, status.mergedInto) : undefined],
        ]),
        el('h3', {}, 'Attempts'),
        timeline(status.attempts, status.attemptsOmitted),
      ),
    );
  };

  const cancelIt = async () => {
    try {
      show(await api('DELETE', `/v1/notifications/${segment(id)}`), notice('Canceled: nothing more will be sent.', 'ok'));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'HERALD_ERR_ALREADY_FINISHED') {
        await load();
        result.querySelector('.card')?.insertBefore(notice('It had already ended; nothing to cancel.'), result.querySelector('.facts'));
      } else replace(result, notice(describe(err)));
    }
  };

  load();
  return live.listen((event) => {
    if (event.notificationId === id) load();
  });
}
