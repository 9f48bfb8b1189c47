/**
 * A recipient: its addresses (masked as the API gives them), its Web Push subscriptions (never
 * their keys), its presence per device and its preferences.
 */
import { ApiError, api, describe, segment } from './api.js';
import { badge, el, facts, notice, replace, when } from './dom.js';

export function recipient(view, { params }) {
  const userId = params[0] ?? '';
  const input = el('input', { id: 'user-id', name: 'userId', value: userId, placeholder: 'user id', required: true, autocomplete: 'off', spellcheck: 'false' });
  const form = el('form', { class: 'inline' }, input, el('button', { class: 'primary', type: 'submit' }, 'Look up'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = `#/recipient/${encodeURIComponent(input.value.trim())}`;
  });
  const result = el('div');
  replace(view, el('div', { class: 'heading' }, el('h1', {}, 'Recipient')), form, result);
  if (!userId) return () => {};

  const load = async () => {
    try {
      const [r, presence] = await Promise.all([api('GET', `/v1/recipients/${segment(userId)}`), api('GET', `/v1/recipients/${segment(userId)}/presence`)]);
      show(r, presence);
    } catch (err) {
      replace(
        result,
        notice(
          err instanceof ApiError && err.status === 404 ? `No recipient ${userId}: it was never registered (PUT /v1/recipients/${userId}).` : describe(err),
        ),
      );
    }
  };

  const show = (r, presence) => {
    const prefs = r.preferences ?? {};
    replace(
      result,
      el(
        'section',
        { class: 'card', 'data-recipient': r.userId },
        el('div', { class: 'card-head' }, el('h2', {}, el('code', {}, r.userId)), badge(presence.online ? 'online' : 'offline')),
        el('h3', {}, 'Addresses'),
        facts([
          ['email', r.email],
          ['gotify token', r.gotify?.token],
          ['ntfy topic', r.ntfy?.topic],
          ['webhook', r.webhook?.url],
          ['channels', r.channels?.join(' → ')],
        ]),
        el('h3', {}, 'Web Push subscriptions'),
        subscriptions(r.webpush ?? [], async (id) => {
          await api('DELETE', `/v1/recipients/${segment(userId)}/webpush/${segment(id)}`);
          await load();
        }),
        el('h3', {}, 'Presence'),
        presence.devices.length
          ? el(
              'ul',
              { class: 'plain' },
              presence.devices.map((d) => el('li', {}, el('strong', {}, d.device), d.context ? ` in ${d.context}` : '', ` until ${when(d.expiresAt)}`)),
            )
          : el('p', { class: 'empty' }, 'No device is online.'),
        el('h3', {}, 'Preferences'),
        facts([
          ['muted categories', prefs.muteCategories?.join(', ')],
          ['muted channels', prefs.muteChannels?.join(', ')],
          ['quiet hours', prefs.quietHours ? `${prefs.quietHours.start}–${prefs.quietHours.end} (${prefs.quietHours.timezone})` : undefined],
        ]),
        Object.keys(prefs).length ? null : el('p', { class: 'empty' }, 'None: every category, every channel, at any hour.'),
      ),
    );
  };

  load();
  return () => {};
}

function subscriptions(list, remove) {
  if (!list.length) return el('p', { class: 'empty' }, 'None.');
  return el(
    'ul',
    { class: 'plain subscriptions' },
    list.map((s) => {
      const button = el('button', { type: 'button', class: 'quiet small' }, 'Remove');
      button.addEventListener('click', () => remove(s.id).catch((err) => button.replaceWith(notice(describe(err)))));
      return el('li', {}, el('code', {}, s.endpoint), el('span', { class: 'muted' }, ` since ${when(s.createdAt)}`), ' ', button);
    }),
  );
}
