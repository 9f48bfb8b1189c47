/**
 * Dead letters: the newest first, a page at a time. Each can be inspected (the notification and
 * every attempt), replayed (sent again under its id, channels afresh) or deleted. Delete asks for a
 * second click instead of a dialog.
 */
import { api, describe, segment } from './api.js';
import { badge, el, facts, notice, replace, when } from './dom.js';
import { timeline } from './timeline.js';

const PAGE_SIZE = 25;

export function deadLetters(view) {
  const list = el('div', { class: 'letters' });
  const status = el('div');
  const more = el('button', { type: 'button', class: 'quiet', hidden: true }, 'More');
  const reload = el('button', { type: 'button', class: 'quiet', onclick: () => start() }, 'Reload');
  replace(view, el('div', { class: 'heading' }, el('h1', {}, 'Dead letters'), reload), status, list, more);

  let cursor = null;
  const page = async () => {
    try {
      const answer = await api('GET', `/v1/dead-letters?limit=${PAGE_SIZE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      list.append(...answer.items.map((letter) => row(letter, status)));
      if (!list.firstChild) list.append(el('p', { class: 'empty' }, 'No dead letters: every notification found a way, or is still trying.'));
      cursor = answer.next;
      more.hidden = !cursor;
    } catch (err) {
      replace(status, notice(describe(err)));
    }
  };
  const start = () => {
    cursor = null;
    replace(list);
    replace(status);
    page();
  };
  more.addEventListener('click', page);
  start();
  return () => {};
}

function lastCode(letter) {
  const last = letter.attempts?.[letter.attempts.length - 1];
  return last ? `${last.channel}: ${last.code ?? last.outcome}` : 'no attempt';
}

function row(letter, status) {
  const n = letter.notification;
  const details = el('div', { class: 'letter-details', hidden: true });
  const item = el(
    'article',
    { class: 'letter card', 'data-dead-letter': letter.id },
    el(
      'div',
      { class: 'letter-head' },
      el('a', { href: `#/notification/${encodeURIComponent(letter.id)}` }, el('code', {}, letter.id)),
      el('span', { class: 'letter-title' }, n.title ?? n.message),
      el('span', { class: 'muted' }, `to ${n.to ?? n.topic ?? 'explicit targets'} · ${when(letter.failedAt)} · ${lastCode(letter)}`),
      letter.replays ? badge(`replayed ${letter.replays}×`) : null,
    ),
    el(
      'div',
      { class: 'actions' },
      el('button', { type: 'button', class: 'quiet', onclick: () => inspect() }, 'Inspect'),
      el('button', { type: 'button', class: 'primary', 'data-action': 'replay', onclick: () => replay() }, 'Replay'),
      el('button', { type: 'button', class: 'danger', 'data-action': 'delete', onclick: (event) => remove(event.currentTarget) }, 'Delete'),
    ),
    details,
  );

  const inspect = async () => {
    if (!details.hidden) {
      details.hidden = true;
      return;
    }
    try {
      const full = await api('GET', `/v1/dead-letters/${segment(letter.id)}`);
      replace(
        details,
        facts([
          ['failed', when(full.failedAt)],
          ['replays', String(full.replays)],
        ]),
        el('h3', {}, 'Attempts'),
        timeline(full.attempts, full.attemptsOmitted),
        el('h3', {}, 'Notification'),
        el('pre', { class: 'json' }, JSON.stringify(full.notification, null, 2)),
      );
      details.hidden = false;
    } catch (err) {
      replace(details, notice(describe(err)));
      details.hidden = false;
    }
  };

  const replay = async () => {
    try {
      const answer = await api('POST', `/v1/dead-letters/${segment(letter.id)}/replay`);
      item.replaceWith(
        el(
          'p',
          { class: 'notice notice-ok', role: 'status', 'data-replayed': letter.id },
          'Replayed: ',
          el('a', { href: `#/notification/${encodeURIComponent(answer.id)}` }, answer.id),
          ` is ${answer.status} again.`,
        ),
      );
    } catch (err) {
      replace(status, notice(describe(err)));
    }
  };

  const remove = async (button) => {
    if (button.dataset.armed !== '1') {
      button.dataset.armed = '1';
      button.textContent = 'Delete for good?';
      return;
    }
    try {
      await api('DELETE', `/v1/dead-letters/${segment(letter.id)}`);
      item.replaceWith(el('p', { class: 'notice notice-ok', role: 'status' }, `Deleted ${letter.id}.`));
    } catch (err) {
      replace(status, notice(describe(err)));
    }
  };
  return item;
}
