// Embedded DNS, like aardvark-dns: one resolver per user-defined network,
// listening on the network's gateway address, port 53 (UDP and TCP). It
// answers A/AAAA for container names and aliases on that network and
// forwards everything else to the host's upstream servers.
import * as dgram from 'dgram';
import * as net from 'net';
import * as fs from 'fs';

export type Lookup = (name: string, type: 'A' | 'AAAA') => string[] | undefined;

const TYPE_A = 1;
const TYPE_AAAA = 28;

interface Question { name: string; type: number; cls: number; end: number }

function readName(buf: Buffer, off: number): { name: string; end: number } {
  const labels: string[] = [];
  let end = -1;
  for (let jumps = 0; jumps < 32; jumps++) {
    const len = buf[off];
    if (len === undefined) throw new Error('truncated name');
    if ((len & 0xc0) === 0xc0) {
      if (end < 0) end = off + 2;
      off = ((len & 0x3f) << 8) | buf[off + 1];
      continue;
    }
    if (len === 0) return { name: labels.join('.'), end: end < 0 ? off + 1 : end };
    labels.push(buf.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  throw new Error('name compression loop');
}

export function parseQuery(buf: Buffer): { id: number; flags: number; q: Question } | undefined {
  if (buf.length < 12 || buf.readUInt16BE(4) !== 1) return undefined;
  const { name, end } = readName(buf, 12);
  if (end + 4 > buf.length) return undefined;
  return { id: buf.readUInt16BE(0), flags: buf.readUInt16BE(2), q: { name, type: buf.readUInt16BE(end), cls: buf.readUInt16BE(end + 2), end: end + 4 } };
}

/** Builds an answer for the query in `query` (question copied as-is). */
export function buildAnswer(query: Buffer, qEnd: number, rcode: number, type: number, ips: string[], ttl = 600): Buffer {
  const head = Buffer.from(query.subarray(0, qEnd));
  // QR, RD copied, AA, and RA unless refused (no recursion offered).
  const flags = 0x8000 | (query.readUInt16BE(2) & 0x0100) | 0x0400 | (rcode === 5 ? 0 : 0x0080) | rcode;
  head.writeUInt16BE(flags, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(ips.length, 6);
  head.writeUInt16BE(0, 8);
  head.writeUInt16BE(0, 10);
  const answers = ips.map((ip) => {
    const rdata = type === TYPE_A ? Buffer.from(ip.split('.').map(Number)) : ipv6Bytes(ip);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0);  // pointer to the question name
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(ttl, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([head, ...answers]);
}

function ipv6Bytes(ip: string): Buffer {
  const { toBig } = require('./ipam');
  let n: bigint = toBig(ip, 6);
  const b = Buffer.alloc(16);
  for (let i = 15; i >= 0; i--) { b[i] = Number(n & 0xffn); n >>= 8n; }
  return b;
}

/** Nameservers of the host's resolv.conf, minus loopback ones (unreachable from a sandbox). */
export function hostNameservers(file = '/etc/resolv.conf'): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((s): s is string => !!s && net.isIP(s) !== 0);
  } catch {
    return [];
  }
}

const isLoopback = (ip: string) => ip.startsWith('127.') || ip === '::1';

/**
 * Servers a container's own resolv.conf can use, as Docker picks them: the
 * host's, without loopback ones (they mean the host's lo, not the
 * container's); for systemd-resolved's 127.0.0.53 the upstreams it lists in
 * its own file; none left, Google's public servers (Docker's default).
 */
export function containerNameservers(files = ['/etc/resolv.conf', '/run/systemd/resolve/resolv.conf']): string[] {
  for (const f of files) {
    const up = hostNameservers(f).filter((s) => !isLoopback(s));
    if (up.length) return up;
  }
  return ['8.8.8.8', '8.8.4.4'];
}

/**
 * Upstreams of the embedded server: it runs in the host's namespace, so the
 * host's servers as they are, loopback ones (systemd-resolved) included.
 */
export function embeddedUpstreams(): string[] {
  const up = hostNameservers();
  return up.length ? up : containerNameservers();
}

export class DnsServer {
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  readonly address: string;

  /** `upstreams` null: no forwarding at all (internal networks), unknown names are REFUSED. */
  constructor(address: string, private lookup: Lookup, private upstreams: string[] | null, private port = 53) {
    this.address = address;
  }

  async start(): Promise<void> {
    const fam = net.isIP(this.address) === 6 ? 'udp6' : 'udp4';
    const udp = dgram.createSocket({ type: fam, reuseAddr: true });
    udp.on('message', (msg, rinfo) => {
      this.answer(msg).then((out) => out && udp.send(out, rinfo.port, rinfo.address)).catch(() => {});
    });
    udp.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.port, this.address, () => { udp.off('error', reject); resolve(); });
    });
    udp.unref();
    this.udp = udp;
    const tcp = net.createServer((s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const q = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + q.length);
          this.answer(Buffer.from(q)).then((out) => {
            if (!out) return;
            const len = Buffer.alloc(2);
            len.writeUInt16BE(out.length);
            s.write(Buffer.concat([len, out]));
          }).catch(() => s.destroy());
        }
      });
      s.on('error', () => {});
    });
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(this.port, this.address, () => { tcp.off('error', reject); resolve(); });
      });
    } catch (e: any) {
      // Another server for this network (another process's) holds TCP: UDP,
      // which several may share, is enough for names; truncated answers are
      // not something ours need.
      if (e.code === 'EADDRINUSE') return;
      udp.close();
      this.udp = undefined;
      throw e;
    }
    tcp.unref();
    this.tcp = tcp;
  }

  /** The reply to one query, or undefined to stay silent. */
  async answer(msg: Buffer): Promise<Buffer | undefined> {
    let p;
    try { p = parseQuery(msg); } catch { return undefined; }
    if (!p || p.flags & 0x8000) return undefined;
    const { q } = p;
    if (q.cls === 1 && (q.type === TYPE_A || q.type === TYPE_AAAA)) {
      const ips = this.lookup(q.name.toLowerCase().replace(/\.$/, ''), q.type === TYPE_A ? 'A' : 'AAAA');
      if (ips) return buildAnswer(msg, q.end, 0, q.type, ips);
    } else if (q.cls === 1 && this.lookup(q.name.toLowerCase(), 'A')) {
      return buildAnswer(msg, q.end, 0, q.type, []);  // a known name: no data of that type
    }
    return this.forward(msg, q);
  }

  private async forward(msg: Buffer, q: Question): Promise<Buffer> {
    // REFUSED, as Docker answers on internal networks (CVE-2024-29018: this
    // server runs in the host's namespace, so forwarding would be a way out);
    // a resolver then tries the container's next server, if it has one.
    if (this.upstreams === null) return buildAnswer(msg, q.end, 5, q.type, []);
    for (const server of this.upstreams) {
      const reply = await new Promise<Buffer | undefined>((resolve) => {
        const s = dgram.createSocket(net.isIP(server) === 6 ? 'udp6' : 'udp4');
        const timer = setTimeout(() => { s.close(); resolve(undefined); }, 2000);
        s.on('message', (m) => { clearTimeout(timer); s.close(); resolve(m); });
        s.on('error', () => { clearTimeout(timer); s.close(); resolve(undefined); });
        s.send(msg, 53, server);
      });
      if (reply) return reply;
    }
    return buildAnswer(msg, q.end, this.upstreams.length ? 2 : 3, q.type, []);  // SERVFAIL / NXDOMAIN
  }

  close(): void {
    try { this.udp?.close(); } catch { /* closed */ }
    this.tcp?.close();
  }
}
