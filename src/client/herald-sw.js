/**
 * Herald's service worker (served at /sdk/herald-sw.js; the file sits beside `herald/push` in the
 * package). Serve it from your site's origin, as it is or through `importScripts` in your own
 * service worker: a service worker must come from the origin of the page that registers it.
 *
 * - push: shows Herald's payload {"id", "title", "body", "url", "category", "priority", "data", "tag"}
 *   as a notification: its title and body, the icon at `data.icon`, and `tag` (the notification's
 *   collapseKey), so a newer one with the same tag replaces the one shown.
 * - notificationclick: focuses a window already at the payload's `url`, or opens one. The target
 *   is the payload's `url` only (Herald checked it at enqueue); `data` travels beside it and can
 *   never replace it.
 * - pushsubscriptionchange: subscribes again if the browser has not, and POSTs the new
 *   subscription JSON to the page's register endpoint: the `register` parameter of this script's
 *   URL (`/herald-sw.js?register=/api/push`, which herald-push.js writes when `register` is a
 *   URL). Only an endpoint on this origin is used, with the site's cookies, so the backend knows
 *   whose browser it is. Without one there is nowhere to send it; the page's next subscribe()
 *   hands the new subscription over.
 *
 * - install: a new version activates at once (skipWaiting), so an updated kit takes over
 *   without every tab of the site being closed first.
 *
 * A classic script, no imports, so that importScripts can load it.
 */
(() => {
  const REGISTER_PARAMETER = 'register';

  /** A non-empty string, or undefined. */
  function text(value) {
    return typeof value === 'string' && value !== '' ? value : undefined;
  }

  /** The payload object; a push that is not Herald's JSON still shows, its text as the body. */
  function readPayload(data) {
    if (!data) return {};
    try {
      const value = data.json();
      return value && typeof value === 'object' ? value : { body: String(value) };
    } catch {
      return { body: data.text() };
    }
  }

  /**
   * The title and showNotification options for a payload. `notification.data` is
   * `{herald: {id, url, category, priority}, data}`: Herald's fields apart from the app's `data`.
   */
  function notificationOf(payload) {
    const data = payload.data && typeof payload.data === 'object' ? payload.data : {};
    const options = {
      body: typeof payload.body === 'string' ? payload.body : '',
      data: {
        herald: { id: payload.id, url: text(payload.url), category: payload.category, priority: payload.priority },
        data: payload.data,
      },
    };
    const icon = text(data.icon);
    if (icon) options.icon = icon;
    const tag = text(payload.tag);
    if (tag) {
      options.tag = tag;
      // A replacement is news too: alert again rather than swap the text silently.
      options.renotify = true;
    }
    return { title: text(payload.title) ?? self.location.hostname, options };
  }

  async function focusOrOpen(url) {
    const target = new URL(url, self.location.href).href;
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const open = windows.find((client) => client.url === target);
    return open ? open.focus() : self.clients.openWindow(target);
  }

  /** The page's register endpoint from this script's URL, when it names one on this origin. */
  function registerEndpoint() {
    const value = new URL(self.location.href).searchParams.get(REGISTER_PARAMETER);
    if (!value) return null;
    const url = new URL(value, self.location.href);
    return url.origin === self.location.origin ? url : null;
  }

  async function renew(oldSubscription, newSubscription) {
    const endpoint = registerEndpoint();
    if (!endpoint) return;
    const key = oldSubscription?.options?.applicationServerKey;
    const subscription = newSubscription ?? (key ? await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }) : null);
    if (!subscription) return;
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(subscription.toJSON()),
      credentials: 'same-origin',
    });
    if (!response.ok) throw new Error(`herald-sw: ${endpoint.pathname} answered ${response.status} to the renewed subscription`);
  }

  // A new version of this script takes over at once instead of waiting for every tab of the site
  // to close: its handlers only show and open notifications, so there is no state to hand over,
  // and herald-push.js's subscribe() waits for the newest version to be active.
  self.addEventListener('install', () => self.skipWaiting());

  self.addEventListener('push', (event) => {
    const { title, options } = notificationOf(readPayload(event.data));
    event.waitUntil(self.registration.showNotification(title, options));
  });

  self.addEventListener('notificationclick', (event) => {
    event.notification.close();
    const url = event.notification.data?.herald?.url;
    if (url) event.waitUntil(focusOrOpen(url));
  });

  self.addEventListener('pushsubscriptionchange', (event) => {
    event.waitUntil(renew(event.oldSubscription, event.newSubscription));
  });
})();
