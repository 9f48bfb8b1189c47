/**
 * Send a test: a notification to a recipient, or to this very browser. For the browser, the page
 * subscribes with Herald's own kit (/sdk/herald-push.js and its service worker /sdk/herald-sw.js,
 * which shows the push), registers the subscription for the chosen user id through the API, and
 * sends to it over Web Push; the overview shows it going through.
 */
import { api, describe, segment } from './api.js';
import { el, notice, replace } from './dom.js';

const CHANNELS = ['gotify', 'webpush', 'email', 'ntfy', 'webhook', 'inbox'];

export function send(view) {
  const to = el('input', { id: 'send-to', name: 'to', required: true, value: 'console-test', autocomplete: 'off', spellcheck: 'false' });
  const title = el('input', { id: 'send-title', name: 'title', value: 'Hello from Herald', maxlength: 250 });
  const message = el(
    'textarea',
    { id: 'send-message', name: 'message', required: true, rows: 3, maxlength: 4000 },
    'It works: this notification went through Herald.',
  );
  const url = el('input', { id: 'send-url', name: 'url', type: 'url', placeholder: 'https://… (opened on click)' });
  const channel = el(
    'select',
    { id: 'send-channel', name: 'channel' },
    el('option', { value: '' }, 'the recipient’s chain'),
    CHANNELS.map((c) => el('option', { value: c }, `only ${c}`)),
  );
  const result = el('div', { id: 'send-result' });

  const form = el(
    'form',
    { class: 'card form' },
    el('h2', {}, 'To a recipient'),
    label('Recipient (user id)', to),
    label('Title', title),
    label('Message', message),
    label('Link', url),
    label('Channel', channel),
    el('div', { class: 'actions' }, el('button', { class: 'primary', type: 'submit' }, 'Send')),
    result,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    await sendTo(result, {
      to: to.value.trim(),
      ...(title.value ? { title: title.value } : {}),
      message: message.value,
      ...(url.value ? { url: url.value } : {}),
      ...(channel.value ? { channels: [channel.value] } : {}),
    });
  });

  replace(view, el('div', { class: 'heading' }, el('h1', {}, 'Send a test')), el('div', { class: 'columns' }, form, thisBrowser(to)));
  return () => {};
}

function label(text, control) {
  return el('label', { class: 'field' }, el('span', {}, text), control);
}

async function sendTo(result, body) {
  try {
    const answer = await api('POST', '/v1/notifications', body);
    replace(
      result,
      el(
        'p',
        { class: 'notice notice-ok', role: 'status' },
        `Accepted (${answer.status}): `,
        el('a', { href: `#/notification/${encodeURIComponent(answer.id)}`, id: 'sent-link' }, answer.id),
        '. Watch it on the ',
        el('a', { href: '#/overview' }, 'overview'),
        '.',
      ),
    );
  } catch (err) {
    replace(result, notice(describe(err)));
  }
}

/** Subscribe this browser for a user id, then send it a test over Web Push. */
function thisBrowser(to) {
  const result = el('div', { id: 'browser-result' });
  const subscribeButton = el('button', { class: 'primary', type: 'button', id: 'subscribe' }, 'Subscribe this browser');
  const sendButton = el('button', { class: 'quiet', type: 'button', id: 'send-browser', disabled: true }, 'Send it a test');
  let subscribedAs = null;

  subscribeButton.addEventListener('click', async () => {
    const userId = to.value.trim();
    try {
      if (!('serviceWorker' in navigator) || typeof PushManager === 'undefined') {
        throw new Error('This browser has no Web Push here (it needs https: or localhost).');
      }
      const { publicKey } = await api('GET', '/v1/webpush/public-key');
      const permission = await Notification.requestPermission();
      if (permission !== 'granted') throw new Error(`Notifications are ${permission} for this site: allow them in the browser's site settings.`);
      // Make sure the user id is registered: a notification for an unknown user id is skipped.
      await api('GET', `/v1/recipients/${segment(userId)}`).catch((err) => {
        if (err.status !== 404) throw err;
        return api('PUT', `/v1/recipients/${segment(userId)}`, {});
      });
      const { subscribe } = await import('/sdk/herald-push.js');
      await subscribe({
        publicKey,
        serviceWorker: '/sdk/herald-sw.js',
        scope: '/sdk/',
        register: (subscription) => api('POST', `/v1/recipients/${segment(userId)}/webpush`, subscription),
      });
      subscribedAs = userId;
      sendButton.disabled = false;
      replace(result, notice(`This browser is subscribed as ${userId}.`, 'ok'));
    } catch (err) {
      replace(result, notice(describe(err)));
    }
  });
  sendButton.addEventListener('click', () =>
    sendTo(result, { to: subscribedAs, title: 'Herald test', message: 'This browser receives Herald’s Web Push notifications.', channels: ['webpush'] }),
  );

  return el(
    'section',
    { class: 'card form' },
    el('h2', {}, 'To this browser'),
    el(
      'p',
      { class: 'muted' },
      'Subscribes this browser with Web Push for the user id on the left, using Herald’s client kit, then sends it a notification. Needs Web Push on (VAPID keys; the first run makes them).',
    ),
    el('div', { class: 'actions' }, subscribeButton, sendButton),
    result,
  );
}
