/**
 * A DNS server double on 127.0.0.1 (UDP, port 0): it answers A and AAAA queries for the names it
 * is given, stays silent for the names it is told to (a resolver that never answers), answers
 * NXDOMAIN for the rest, and records every query. Real DNS messages (RFC 1035), so the resolver
 * under test is c-ares itself.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';

const TYPE_A = 1;
const TYPE_AAAA = 28;
const NXDOMAIN = 3;

export interface DnsQuery {
  name: string;
  type: 'A' | 'AAAA' | number;
}

export class DnsDouble {
  readonly queries: DnsQuery[] = [];
  /** Name (lower case, no trailing dot) → its addresses, IPv4 and IPv6 mixed. */
  readonly records = new Map<string, string[]>();
  /** Names never answered: the query times out at the resolver. */
  silent: (name: string) => boolean = () => false;
  private socket: Socket | undefined;

  /** Starts listening; returns `127.0.0.1:port`, the form `dns.setServers` takes. */
  async start(): Promise<string> {
    const socket = createSocket('udp4');
    this.socket = socket;
    socket.on('message', (message, peer) => this.answer(message, peer));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return `127.0.0.1:${socket.address().port}`;
  }

  /** Queries seen for `name`. */
  queriesFor(name: string): DnsQuery[] {
    return this.queries.filter((q) => q.name === name);
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  private answer(message: Buffer, peer: RemoteInfo): void {
    const question = readQuestion(message);
    if (!question) return;
    const { name, type, end } = question;
    this.queries.push({ name, type: type === TYPE_A ? 'A' : type === TYPE_AAAA ? 'AAAA' : type });
    if (this.silent(name)) return;
    const addresses = this.records.get(name);
    const family = type === TYPE_A ? 4 : type === TYPE_AAAA ? 6 : 0;
    const answers = (addresses ?? []).filter((a) => isIP(a) === family).map((a) => resourceRecord(type, a));
    const header = Buffer.alloc(12);
    message.copy(header, 0, 0, 2); // id
    const recursionDesired = message[2]! & 0x01;
    header[2] = 0x84 | recursionDesired; // response, authoritative
    header[3] = 0x80 | (addresses ? 0 : NXDOMAIN); // recursion available, rcode
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    this.socket?.send(Buffer.concat([header, message.subarray(12, end), ...answers]), peer.port, peer.address);
  }
}

/** The first question's name, type and where it ends; null for a message that is not a query. */
function readQuestion(message: Buffer): { name: string; type: number; end: number } | null {
  if (message.length < 12 || message.readUInt16BE(4) < 1) return null;
  const labels: string[] = [];
  let offset = 12;
  while (offset < message.length && message[offset] !== 0) {
    const length = message[offset]!;
    labels.push(message.subarray(offset + 1, offset + 1 + length).toString('latin1'));
    offset += 1 + length;
  }
  if (offset + 5 > message.length) return null;
  return { name: labels.join('.').toLowerCase(), type: message.readUInt16BE(offset + 1), end: offset + 5 };
}

function resourceRecord(type: number, address: string): Buffer {
  const data = type === TYPE_A ? Buffer.from(address.split('.').map(Number)) : ipv6Bytes(address);
  const record = Buffer.alloc(12);
  record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
  record.writeUInt16BE(type, 2);
  record.writeUInt16BE(1, 4); // class IN
  record.writeUInt32BE(0, 6); // TTL 0: never cached, so every check asks again
  record.writeUInt16BE(data.length, 10);
  return Buffer.concat([record, data]);
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) bytes.writeUInt16BE(parseInt(g, 16), i * 2);
  return bytes;
}
