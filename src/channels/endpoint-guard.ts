/**
 * Keeps caller-chosen URLs (Web Push endpoints, the webhook channel's URLs) from becoming a way
 * into the private network. Such a URL is chosen by whoever calls the API; Herald POSTs to it from
 * inside the deployment. So an endpoint must be `https:` on port 443 of a public address:
 *   - when it is registered the URL is checked and its host name resolved, every address checked
 *     (endpoint-check.ts does this for a request, within bounds on its DNS work);
 *   - at send time the same URL check runs, and the connection's own DNS lookup is replaced by
 *     one that checks every address and hands the socket only checked ones, so a name that
 *     resolved to a public address when it was registered and to 10.0.0.1 now (DNS rebinding) is
 *     refused, and the address checked is the address connected to (guarded-http-client.ts).
 * `HERALD_ALLOW_PRIVATE_ENDPOINTS=1` lifts the scheme, port and address rules (tests, labs).
 * Messages never repeat the endpoint: its path is a capability (it identifies a browser, or lets
 * anyone post to a webhook receiver) and must not reach logs.
 */
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';

/**
 * Thrown by the guarded lookup. Its errno-style code is never an attempt code: each channel turns
 * the refusal into its own (guarded-http-client.ts).
 */
export class EndpointRefusedError extends Error {
  readonly code = 'EENDPOINTREFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'EndpointRefusedError';
  }
}

/** IPv4 ranges that are not the public internet (IANA special-purpose registry, RFC 6890). */
const V4_NOT_PUBLIC: [string, number][] = [
  ['0.0.0.0', 8], // "this network", 0.0.0.0
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
];

/**
 * IPv6 outside global unicast (2000::/3) is never public; inside it, a few special blocks. The
 * forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that address
 * before these rules apply.
 */
const V6_NOT_PUBLIC: [string, number][] = [
  ['::', 3], // unspecified, loopback, mapped, NAT64, discard, ... (0000::/3)
  ['4000::', 2],
  ['8000::', 1], // includes unique-local fc00::/7 (and fd00:ec2::254), link-local fe80::/10, multicast ff00::/8
  ['2001::', 32], // Teredo: tunnels to an address we cannot see
  ['2001:10::', 28], // ORCHID
  ['2001:20::', 28], // ORCHIDv2
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation
];

function blockList(rules: [string, number][], family: 'ipv4' | 'ipv6'): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of rules) list.addSubnet(network, prefix, family);
  return list;
}

const V4_BLOCKS = blockList(V4_NOT_PUBLIC, 'ipv4');
const V6_BLOCKS = blockList(V6_NOT_PUBLIC, 'ipv6');

/** The eight 16-bit groups of an IPv6 address in any textual form (`::`, dotted IPv4 tail). */
function ipv6Groups(address: string): number[] | null {
  let text = address.replace(/%.*$/, '');
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail, ...rest] = text.split('::');
  if (rest.length > 0) return null;
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 0) return null;
  const groups = [...left, ...Array<number>(Math.max(missing, 0)).fill(0), ...right];
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

function ipv4FromGroups(high: number, low: number): string {
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/**
 * The IPv4 address an IPv6 address stands for or leads to, if any: IPv4-mapped (::ffff:a.b.c.d),
 * IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::).
 */
function embeddedIpv4(groups: number[]): string | null {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [number, number, number, number, number, number, number, number];
  const zeroTo4 = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (zeroTo4 && g5 === 0xffff) return ipv4FromGroups(g6, g7);
  if (zeroTo4 && g5 === 0 && (g6 !== 0 || g7 > 1)) return ipv4FromGroups(g6, g7);
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return ipv4FromGroups(g6, g7);
  if (g0 === 0x2002) return ipv4FromGroups(g1, g2);
  return null;
}

/** True when `address` (an IP literal) is a public unicast address a push service could have. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !V4_BLOCKS.check(address, 'ipv4');
  if (family !== 6) return false;
  const groups = ipv6Groups(address);
  if (!groups) return false;
  const v4 = embeddedIpv4(groups);
  if (v4 !== null) {
    if (!isPublicAddress(v4)) return false;
    // A mapped or compatible address *is* that IPv4 address; NAT64 and 6to4 reach it via a
    // public gateway, so the IPv6 address is public when the IPv4 one is.
    return true;
  }
  return !V6_BLOCKS.check(groups.map((g) => g.toString(16)).join(':'), 'ipv6');
}

export interface GuardOptions {
  /** HERALD_ALLOW_PRIVATE_ENDPOINTS: any scheme of http/https, any port, any address. */
  allowPrivate: boolean;
}

/** Host names that name this machine or a private zone whatever DNS says (RFC 6761, RFC 6762). */
function isLocalName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost') || name.endsWith('.local') || name.endsWith('.internal') || !name.includes('.');
}

/**
 * Checks what can be checked without DNS. Returns the parsed URL, or a reason for refusing it that
 * does not repeat the endpoint.
 */
export function checkEndpointUrl(endpoint: string, options: GuardOptions): URL | string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'Must be an absolute URL';
  }
  if (url.username || url.password) return 'Must not carry a user name or password';
  if (options.allowPrivate) {
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : 'Must be an https: URL';
  }
  if (url.protocol !== 'https:') return 'Must be an https: URL';
  // URL drops the default port, so any port left is not 443.
  if (url.port !== '') return 'Must use port 443';
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (isIP(host)) return isPublicAddress(host) ? url : 'Must be on a public address';
  if (isLocalName(host)) return 'Must be on a public host name';
  return url;
}

export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));

/** Resolves a host name and refuses it unless every address is public. */
export async function resolvePublic(hostname: string, resolver: Resolver): Promise<LookupAddress[]> {
  const addresses = await resolver(hostname);
  if (addresses.length === 0) throw new EndpointRefusedError('the endpoint host does not resolve');
  // Every address, not just the first: the socket may try any of them (happy eyeballs).
  if (!addresses.every((a) => isPublicAddress(a.address))) {
    throw new EndpointRefusedError('the endpoint host resolves to a non-public address');
  }
  return addresses;
}

/**
 * A `lookup` for sockets (net.connect, undici's connector) that resolves, checks every address,
 * and answers with the checked addresses only. A refusal fails the connection with an
 * EndpointRefusedError, before any byte is sent.
 */
export function guardedLookup(resolver: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    resolvePublic(hostname, resolver).then(
      (addresses) => {
        const family = options.family === 4 || options.family === 6 ? options.family : 0;
        const usable = family === 0 ? addresses : addresses.filter((a) => a.family === family);
        if (usable.length === 0) return callback(new EndpointRefusedError('the endpoint host has no usable address'), '', 0);
        if (options.all) return callback(null, usable);
        return callback(null, usable[0]!.address, usable[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}
