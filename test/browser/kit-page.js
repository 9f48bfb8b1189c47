/**
 * The page of the Web Push kit's browser test, as an app's page would use the kit, with handles for
 * the test on `window.kit`.
 *
 * Chromium's own pushManager.subscribe asks Google's push service (FCM) for an endpoint and, with
 * no network, waits for it for minutes. `stubPushService()` puts a push service in its place at
 * the browser's boundary (PushManager.prototype), recording what it is asked: the kit's own code
 * runs unchanged on both sides of it.
 */
import { subscribe, unsubscribe } from '/sdk/herald-push.js';

const SCRIPT = '/sdk/herald-sw.js';
let stored = null;

const kit = {
  pushServiceCalls: [],
  handedToFunction: [],

  async publicKey() {
    return (await (await fetch('/v1/webpush/public-key')).json()).publicKey;
  },

  stubPushService() {
    PushManager.prototype.getSubscription = async () => stored;
    PushManager.prototype.subscribe = async (options) => {
      const key = new Uint8Array(options.applicationServerKey);
      kit.pushServiceCalls.push({ userVisibleOnly: options.userVisibleOnly, applicationServerKey: Array.from(key) });
      const endpoint = `https://push.example.net/send/${kit.pushServiceCalls.length}`;
      stored = {
        endpoint,
        options: { userVisibleOnly: true, applicationServerKey: key.buffer },
        toJSON: () => ({ endpoint, expirationTime: null, keys: { p256dh: 'BPp256dhOfTheBrowser', auth: 'authSecret' } }),
        unsubscribe: async () => {
          stored = null;
          return true;
        },
      };
      return stored;
    };
  },

  /** subscribe() with `register` as a URL on this origin, or as a function. */
  async subscribe(register) {
    const options = {
      publicKey: await kit.publicKey(),
      serviceWorker: SCRIPT,
      register: register === 'function' ? (json) => kit.handedToFunction.push(json) : '/kit-test/register',
    };
    return (await subscribe(options)).toJSON();
  },

  async unsubscribe() {
    return unsubscribe({ serviceWorker: SCRIPT, unregister: '/kit-test/unregister' });
  },

  async registration() {
    const registrations = await navigator.serviceWorker.getRegistrations();
    return registrations.find((registration) => new URL(registration.active?.scriptURL ?? 'about:blank').pathname === SCRIPT);
  },

  async scriptUrl() {
    return (await kit.registration())?.active?.scriptURL;
  },

  /** The notifications the service worker shows, as the page can read them. */
  async shown() {
    const notifications = await (await kit.registration()).getNotifications();
    return notifications.map(({ title, body, tag, icon, data }) => ({ title, body, tag, icon, data }));
  },
};

window.kit = kit;
