/**
 * Types of `herald/push` (herald-push.js), Herald's Web Push kit for the page. It runs in a
 * browser: the DOM types (PushSubscription) come from the page's own TypeScript settings.
 */

/** The subscription JSON a browser makes (`PushSubscription.toJSON()`), which Herald registers as it is. */
export interface PushSubscriptionJson {
  endpoint: string;
  expirationTime?: number | null;
  keys: { p256dh: string; auth: string };
}

/**
 * Where the subscription goes: a function that hands it to the app's backend, or a URL on the
 * page's origin that it is POSTed to as JSON (with the page's cookies). A function's answer that
 * is a `Response` other than 2xx is a failure.
 */
export type SubscriptionTarget = string | URL | ((subscription: PushSubscriptionJson) => unknown);

export interface SubscribeOptions {
  /** Herald's VAPID public key, base64url (GET /v1/webpush/public-key). */
  publicKey: string;
  /** URL of the service worker script (herald-sw.js served from the page's origin). */
  serviceWorker: string | URL;
  /**
   * Hands the subscription to the app's backend, which registers it with Herald. As a URL it is
   * also where the service worker posts a renewed subscription (`pushsubscriptionchange`).
   */
  register: SubscriptionTarget;
  /** The service worker's scope; the browser's default (the script's folder) when absent. */
  scope?: string;
}

export interface UnsubscribeOptions {
  /** URL of the service worker script subscribe() registered; the page's own registration when absent. */
  serviceWorker?: string | URL;
  /** Told the old subscription once the browser dropped it, so the backend can remove it from Herald. */
  unregister?: SubscriptionTarget;
}

/** The query parameter of the service worker's script URL that names the register endpoint. */
export declare const REGISTER_PARAMETER: 'register';

/** Subscribes this browser and hands the subscription to `register`; resolves once it succeeded. */
export declare function subscribe(options: SubscribeOptions): Promise<PushSubscription>;

/** Unsubscribes this browser and tells `unregister`; false when there was no subscription. */
export declare function unsubscribe(options?: UnsubscribeOptions): Promise<boolean>;

/** A base64url text as bytes (the VAPID key as `pushManager.subscribe` takes it). */
export declare function base64UrlToBytes(text: string): Uint8Array;
