/**
 * Checks the endpoints one request names (a subscription, the Web Push targets of one
 * notification or of a whole batch, a recipient's webhook URL) before anything is stored. The URL and address rules are
 * the guard's (endpoint-guard.ts); this module bounds what one request may cost in DNS:
 *   - each host name is resolved once per request, however many endpoints share it;
 *   - a request whose endpoints name more than `maxHosts` different host names is refused at
 *     once, naming the request's field, without a single lookup;
 *   - at most `concurrency` names of one request are resolved at a time, all within
 *     `deadlineMs`; a name not resolved by then is refused as not resolving in time.
 * Names are resolved with c-ares (node:dns's Resolver, over the process's DNS servers) rather than
 * getaddrinfo: getaddrinfo runs on libuv's four threads, which a slow name holds until the system
 * resolver gives up while every other request's lookups (and file and crypto work) queue behind
 * it, and it can be neither timed out nor cancelled. A c-ares query is a socket with its own
 * timeout, and queries of different requests do not wait for one another.
 * The worker checks the addresses again when it connects (endpoint-guard.ts, guardedLookup).
 */
import { getServers, type LookupAddress } from 'node:dns';
import { Resolver as DnsResolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { validationError } from '../errors.js';
import { checkEndpointUrl, EndpointRefusedError, resolvePublic, type Resolver } from './endpoint-guard.js';

export interface EndpointCheckLimits {
  /** Different host names one request's endpoints may name. */
  maxHosts: number;
  /** Host names of one request resolved at a time. */
  concurrency: number;
  /** How long one request's lookups may take in all, in ms. */
  deadlineMs: number;
}

export const ENDPOINT_CHECK_LIMITS: EndpointCheckLimits = { maxHosts: 50, concurrency: 8, deadlineMs: 5000 };

/** c-ares settings: each try of a query waits this long (c-ares doubles it on the retry). */
const QUERY_TIMEOUT_MS = 2000;
const QUERY_TRIES = 2;

const DNS_GAVE_UP = new Set(['ETIMEOUT', 'ECANCELLED']);
const NO_SUCH_RECORD = new Set(['ENODATA', 'ENOTFOUND']);

/**
 * Resolves a name's IPv4 and IPv6 addresses with c-ares. `servers` defaults to the process's DNS
 * servers (`dns.getServers()`: /etc/resolv.conf's, or what the application set with
 * `dns.setServers`), read when the first name is resolved.
 */
export function dnsResolver(servers?: readonly string[]): Resolver {
  let resolver: DnsResolver | undefined;
  return async (hostname) => {
    if (!resolver) {
      resolver = new DnsResolver({ timeout: QUERY_TIMEOUT_MS, tries: QUERY_TRIES });
      resolver.setServers([...(servers ?? getServers())]);
    }
    const [v4, v6] = await Promise.allSettled([resolver.resolve4(hostname), resolver.resolve6(hostname)]);
    const addresses: LookupAddress[] = [
      ...(v4.status === 'fulfilled' ? v4.value.map((address) => ({ address, family: 4 })) : []),
      ...(v6.status === 'fulfilled' ? v6.value.map((address) => ({ address, family: 6 })) : []),
    ];
    if (addresses.length > 0) return addresses;
    // Neither family has an address: report the failure that says most (a timeout over "no record").
    const errors = [v4, v6].flatMap((r) => (r.status === 'rejected' ? [r.reason as NodeJS.ErrnoException] : []));
    throw errors.find((e) => !NO_SUCH_RECORD.has(e.code ?? '')) ?? errors[0] ?? new Error('no addresses');
  };
}

export interface EndpointCheckerOptions {
  /** HERALD_ALLOW_PRIVATE_ENDPOINTS: no address rules, so no lookups. */
  allowPrivate: boolean;
  resolver?: Resolver;
  limits?: Partial<EndpointCheckLimits>;
}

export class EndpointChecker {
  private readonly resolver: Resolver;
  private readonly limits: EndpointCheckLimits;

  constructor(private readonly options: EndpointCheckerOptions) {
    this.resolver = options.resolver ?? dnsResolver();
    this.limits = { ...ENDPOINT_CHECK_LIMITS, ...options.limits };
  }

  /**
   * Why each endpoint is refused, or null when it may be used, in the order given. Reasons never
   * repeat the endpoint. Throws HERALD_ERR_VALIDATION naming `field` when the endpoints name more
   * than `maxHosts` different host names.
   */
  async check(endpoints: readonly string[], field: string): Promise<(string | null)[]> {
    const guard = { allowPrivate: this.options.allowPrivate };
    const urls = endpoints.map((endpoint) => checkEndpointUrl(endpoint, guard));
    const hosts = new Set<string>();
    for (const url of urls) if (typeof url !== 'string' && needsLookup(url, guard.allowPrivate)) hosts.add(url.hostname);
    if (hosts.size > this.limits.maxHosts) {
      throw validationError([{ field, message: `The push endpoints name ${hosts.size} different hosts; at most ${this.limits.maxHosts} per request` }]);
    }
    const hostProblems = await this.resolveAll([...hosts]);
    return urls.map((url) => (typeof url === 'string' ? url : (hostProblems.get(url.hostname) ?? null)));
  }

  /** Every host's problem (null when its addresses are all public), within the deadline. */
  private async resolveAll(hosts: string[]): Promise<Map<string, string | null>> {
    const settled = new Map<string, string | null>();
    if (hosts.length === 0) return settled;
    let next = 0;
    let expired = false;
    const work = async () => {
      while (!expired && next < hosts.length) {
        const host = hosts[next++]!;
        const problem = await this.hostProblem(host);
        if (!expired) settled.set(host, problem);
      }
    };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        expired = true;
        resolve();
      }, this.limits.deadlineMs);
    });
    const workers = Array.from({ length: Math.min(this.limits.concurrency, hosts.length) }, work);
    await Promise.race([Promise.all(workers), deadline]);
    clearTimeout(timer);
    // Lookups still running go on until c-ares times them out; their answers are not waited for.
    expired = true;
    const late = `The host name did not resolve within ${this.limits.deadlineMs / 1000} s`;
    for (const host of hosts) if (!settled.has(host)) settled.set(host, late);
    return settled;
  }

  private async hostProblem(hostname: string): Promise<string | null> {
    try {
      await resolvePublic(hostname, this.resolver);
      return null;
    } catch (err) {
      if (err instanceof EndpointRefusedError) return 'Must be on a public address';
      if (DNS_GAVE_UP.has((err as NodeJS.ErrnoException).code ?? '')) return `The host name did not resolve within ${this.limits.deadlineMs / 1000} s`;
      return 'The host name does not resolve';
    }
  }
}

/** IP literals are checked by their address and private endpoints not at all: neither needs DNS. */
function needsLookup(url: URL, allowPrivate: boolean): boolean {
  return !allowPrivate && !isIP(url.hostname.replace(/^\[|\]$/g, ''));
}
