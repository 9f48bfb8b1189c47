/**
 * Herald's Web Push kit for the page (served at /sdk/herald-push.js, exported as `herald/push`).
 *
 *   import { subscribe } from '/sdk/herald-push.js';
 *   await subscribe({ publicKey, serviceWorker: '/herald-sw.js', register: '/api/push' });
 *
 * `subscribe` registers the service worker, subscribes this browser with Herald's VAPID public key
 * and hands the subscription JSON to `register`: the app's own backend, which holds the Herald API
 * key and calls `POST /v1/recipients/:userId/webpush`. The browser never holds a Herald key.
 *
 * `register` is a function (called with the subscription JSON) or a URL on the page's origin (the
 * JSON is POSTed there, with the page's cookies). With a URL, the service worker learns it too, as
 * the `register` parameter of its script URL, and posts a renewed subscription there on
 * `pushsubscriptionchange`, when no page may be open. With a function, write that parameter into
 * the `serviceWorker` URL yourself to get the same.
 *
 * Plain modern JavaScript with no imports: it runs as it is, served or bundled.
 */

/** The query parameter of the service worker's script URL that names the page's register endpoint. */
export const REGISTER_PARAMETER = 'register';

/**
 * Subscribes this browser and hands the subscription to the app. Resolves with the PushSubscription
 * once `register` has succeeded. Calling it again is safe: it reuses the browser's subscription
 * (and hands it over again) unless that one was made with another VAPID key.
 *
 * @param {{ publicKey: string, serviceWorker: string | URL, register: string | URL | ((subscription: object) => unknown), scope?: string }} options
 * @returns {Promise<PushSubscription>}
 */
export async function subscribe(options) {
  const { publicKey, serviceWorker, register, scope } = options ?? {};
  if (typeof publicKey !== 'string' || !/^[A-Za-z0-9_-]{87}$/.test(publicKey)) {
    throw new TypeError("herald-push: publicKey must be Herald's VAPID public key, 87 base64url characters (GET /v1/webpush/public-key)");
  }
  if (!serviceWorker) throw new TypeError('herald-push: serviceWorker must be the URL of the service worker script, on this origin');
  if (typeof register !== 'function') sameOriginUrl(register, 'register');
  if (!('serviceWorker' in navigator) || typeof PushManager === 'undefined') {
    throw new Error('herald-push: this browser has no Web Push (it needs service workers and the Push API, on https: or localhost)');
  }

  const registration = await navigator.serviceWorker.register(scriptUrl(serviceWorker, register), scope ? { scope } : undefined);
  // pushManager.subscribe refuses a registration without an active worker; `navigator.serviceWorker.ready`
  // would never settle when the worker's scope does not cover this page.
  await activated(registration);

  const applicationServerKey = base64UrlToBytes(publicKey);
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameBytes(subscription.options?.applicationServerKey, applicationServerKey)) {
    // Made with another VAPID key: Herald's pushes would be refused for it.
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey });
  await handOver(register, subscription.toJSON(), 'register');
  return subscription;
}

/**
 * Unsubscribes this browser, then hands the old subscription JSON to `unregister` (a function or a
 * same-origin URL it is POSTed to) so the backend can call `DELETE /v1/recipients/:userId/webpush/:id`.
 * Should that fail, nothing is lost: Herald removes a subscription the push service no longer knows
 * at its next send. Resolves with false when there was no subscription.
 *
 * @param {{ serviceWorker?: string | URL, unregister?: string | URL | ((subscription: object) => unknown) }} [options]
 * @returns {Promise<boolean>}
 */
export async function unsubscribe(options) {
  const { serviceWorker, unregister } = options ?? {};
  if (unregister !== undefined && typeof unregister !== 'function') sameOriginUrl(unregister, 'unregister');
  if (!('serviceWorker' in navigator)) return false;
  const registration = await findRegistration(serviceWorker);
  const subscription = await registration?.pushManager.getSubscription();
  if (!subscription) return false;
  const json = subscription.toJSON();
  await subscription.unsubscribe();
  if (unregister !== undefined) await handOver(unregister, json, 'unregister');
  return true;
}

/** The VAPID key, as pushManager.subscribe wants it, from the base64url text Herald serves. */
export function base64UrlToBytes(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

/** `register` given as a URL must be on the page's origin: a subscription is a credential to push to this browser. */
function sameOriginUrl(value, name) {
  if (typeof value !== 'string' && !(value instanceof URL)) {
    throw new TypeError(`herald-push: ${name} must be a function or a URL on this origin`);
  }
  const url = new URL(value, location.href);
  if (url.origin !== location.origin) throw new TypeError(`herald-push: ${name} must be on this origin (${location.origin}), not ${url.origin}`);
  return url;
}

/** The service worker's script URL, carrying the register endpoint when `register` is one. */
function scriptUrl(serviceWorker, register) {
  const url = new URL(serviceWorker, location.href);
  if (typeof register !== 'function') {
    const endpoint = sameOriginUrl(register, 'register');
    url.searchParams.set(REGISTER_PARAMETER, endpoint.pathname + endpoint.search);
  }
  return url.href;
}

/**
 * The registration's newest worker once it is active. A register() that changed the script URL
 * (another `register` endpoint, an updated kit) leaves the old version active while the new one
 * installs; a subscription handed over then would be served by a worker about to be replaced, so
 * wait for the new one (herald-sw.js skips waiting, so this ends without closing any tab). If the
 * new version fails to install, the old one stays active and is used.
 */
function activated(registration) {
  const worker = registration.installing ?? registration.waiting;
  if (!worker) return registration.active ? Promise.resolve(registration.active) : Promise.reject(noWorker());
  return new Promise((resolve, reject) => {
    const settle = () => {
      if (worker.state === 'activated') resolve(worker);
      else if (worker.state === 'redundant') {
        worker.removeEventListener('statechange', settle);
        // Replaced by a newer version, or failed to install: follow the registration from here.
        if (registration.installing ?? registration.waiting ?? registration.active) activated(registration).then(resolve, reject);
        else reject(noWorker());
      }
    };
    worker.addEventListener('statechange', settle);
    settle();
  });
}

function noWorker() {
  return new Error('herald-push: the service worker failed to install (see the browser console)');
}

function sameBytes(buffer, bytes) {
  if (!buffer) return false;
  const other = new Uint8Array(buffer);
  return other.length === bytes.length && other.every((byte, i) => byte === bytes[i]);
}

/**
 * Calls `target` with the subscription JSON, or POSTs it to the URL `target` names. A Response
 * (what `fetch` resolves with) that is not 2xx counts as a failure, so a refused registration is
 * not mistaken for a done one.
 */
async function handOver(target, json, name) {
  const answer =
    typeof target === 'function'
      ? await target(json)
      : await fetch(sameOriginUrl(target, name), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(json),
          credentials: 'same-origin',
        });
  if (typeof Response !== 'undefined' && answer instanceof Response && !answer.ok) {
    throw new Error(`herald-push: ${name} answered ${answer.status}`);
  }
  return answer;
}

/** The registration whose script is `serviceWorker` (its query aside), or the one of this page. */
async function findRegistration(serviceWorker) {
  if (!serviceWorker) return navigator.serviceWorker.getRegistration();
  const path = new URL(serviceWorker, location.href).pathname;
  const registrations = await navigator.serviceWorker.getRegistrations();
  return registrations.find((registration) => {
    const worker = registration.active ?? registration.waiting ?? registration.installing;
    return worker && new URL(worker.scriptURL).pathname === path;
  });
}
