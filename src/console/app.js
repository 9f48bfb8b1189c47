/**
 * The console's shell: sign-in with an admin key, hash routes (#/overview, #/notification/<id>,
 * #/dead-letters, #/recipient/<userId>, #/send), the live event stream's state in the header.
 * Each page is a function `(view, context) → cleanup`, called when its route is shown.
 */
import { api, describe, forgetKey, KEY_REFUSED, key, setKey } from './api.js';
import { deadLetters } from './dead-letters.js';
import { el, notice, replace } from './dom.js';
import { Live } from './live.js';
import { notification } from './notification.js';
import { overview } from './overview.js';
import { recipient } from './recipient.js';
import { send } from './send.js';

const PAGES = { overview, notification, 'dead-letters': deadLetters, recipient, send };
const LIVE_LABELS = { connecting: 'connecting…', live: 'live', retrying: 'reconnecting…', refused: 'events refused', offline: 'offline' };

const view = document.getElementById('view');
const nav = document.getElementById('nav');
const liveBadge = document.getElementById('live');
const signOutButton = document.getElementById('sign-out');

const live = new Live({
  onState: (state) => {
    liveBadge.textContent = LIVE_LABELS[state] ?? state;
    liveBadge.dataset.state = state;
    if (state === 'refused') window.dispatchEvent(new Event(KEY_REFUSED));
  },
});
let cleanup = () => {};

function signedInChrome(on) {
  nav.hidden = !on;
  liveBadge.hidden = !on;
  signOutButton.hidden = !on;
}

function showSignIn(message) {
  cleanup();
  cleanup = () => {};
  live.stop();
  signedInChrome(false);
  const input = el('input', { id: 'admin-key', name: 'key', type: 'password', required: true, autocomplete: 'off', spellcheck: 'false' });
  const form = el(
    'form',
    { class: 'card signin' },
    el('h1', {}, 'Herald console'),
    el('p', { class: 'muted' }, 'Sign in with an admin API key (HERALD_API_KEYS, scope admin; the first run prints one). It stays in this tab only.'),
    message ? notice(message) : null,
    el('label', { class: 'field' }, el('span', {}, 'Admin key'), input),
    el('div', { class: 'actions' }, el('button', { class: 'primary', type: 'submit' }, 'Sign in')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    setKey(input.value.trim());
    try {
      // Stats need the admin scope: a publish key is refused here, not on the first page.
      await api('GET', '/v1/stats?window=60');
      input.value = '';
      start();
    } catch (err) {
      forgetKey();
      showSignIn(err.status === 401 ? 'That key is not one of this Herald’s keys.' : err.status === 403 ? 'That key has no admin scope.' : describe(err));
    }
  });
  replace(view, form);
  input.focus();
}

function route() {
  if (!key()) return showSignIn();
  const [name, ...params] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const page = PAGES[name] ? name : 'overview';
  for (const link of nav.querySelectorAll('a')) {
    link.classList.toggle('current', link.dataset.page === page);
    if (link.dataset.page === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  cleanup();
  cleanup = PAGES[page](view, { live, params: params.filter(Boolean) }) ?? (() => {});
}

function start() {
  signedInChrome(true);
  live.start();
  if (!location.hash || location.hash === '#') location.hash = '#/overview';
  else route();
}

signOutButton.addEventListener('click', () => {
  forgetKey();
  showSignIn();
});
window.addEventListener('hashchange', route);
window.addEventListener(KEY_REFUSED, () => {
  forgetKey();
  showSignIn('Herald refused the key: sign in again.');
});

if (key()) start();
else showSignIn();
