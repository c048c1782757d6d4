// The embedded name server: answers for the names it is given (A, AAAA, PTR)
// and forwards the rest, over UDP and TCP, within limits so that no client
// can hold the process's file descriptors: idle TCP connections are closed,
// TCP connections and forwarded queries are capped per client, per server
// and per process, and every forward has a deadline.
import * as dgram from 'dgram';
import { native } from '../../native';
import * as fs from 'fs';
import * as net from 'net';
import { canonicalIp } from '../../util/ip';
import { invalid } from '../errors';
import { Deframer, LocalRecord, Query, RCODE, decodeQuery, encodeReply, frame, isDnsName, reverseAddress, udpLimit } from './codec';

/** Addresses of a name (lowercase, no trailing dot); [] for a known name without that family, undefined for unknown. */
export type Lookup = (name: string, type: 'A' | 'AAAA') => string[] | undefined;

/** What a server knows: names, and optionally addresses back to names (PTR). */
export interface Names {
  lookup: Lookup;
  /** Names of a known address (as answered in PTR records, e.g. "web.mynet"), or undefined to forward. */
  reverse?: (ip: string) => string[] | undefined;
}

export interface DnsLimits {
  /** A TCP connection must send its first query within this (miekg/dns's read timeout, which Docker's resolver uses). */
  tcpFirstQueryMs: number;
  /** And is closed after this long without one (miekg/dns's idle timeout). */
  tcpIdleMs: number;
  /** TCP connections at once from one client address, and on one server; beyond, the oldest idle one is closed (or the new one, if none is idle). */
  tcpPerClient: number;
  tcpPerServer: number;
  /** Forwarded queries in flight from one client address, and on one server; beyond, SERVFAIL at once. */
  forwardPerClient: number;
  forwardPerServer: number;
  /** Time given to each upstream (Docker: 4 s per exchange), and how many are tried (Docker: 3). */
  forwardTimeoutMs: number;
  maxUpstreams: number;
  /** Queries in flight on one TCP connection before it is read no further. */
  tcpPipeline: number;
}

export const DEFAULT_LIMITS: Readonly<DnsLimits> = Object.freeze({
  tcpFirstQueryMs: 2000,
  tcpIdleMs: 8000,
  tcpPerClient: 16,
  tcpPerServer: 64,
  forwardPerClient: 64,
  forwardPerServer: 256,
  forwardTimeoutMs: 2000,
  maxUpstreams: 3,
  tcpPipeline: 16,
});

/**
 * Caps shared by servers: by default every server of the process draws on
 * one budget (per-sandbox resolvers must not add up to more descriptors than
 * this), Docker's 1024 concurrent forwards included.
 */
export class DnsBudget {
  tcpInUse = 0;
  forwardsInUse = 0;
  constructor(readonly tcp = 1024, readonly forwards = 1024) {}
}
const processBudget = new DnsBudget();

export interface DnsServerOptions {
  limits?: Partial<DnsLimits>;
  budget?: DnsBudget;
  /** TTL of local answers (Docker: 600 s). */
  ttl?: number;
  /**
   * The sandbox's options set ndots above 0: a single-label A or AAAA name
   * not known here gets an empty NOERROR, not a forward, so the client goes
   * on with its search domains (Docker's NdotsSet).
   */
  ndotsSet?: boolean;
  /**
   * Where forwards go from. `dialInside(server)` true: from a socket
   * `insideSocket` makes (unbound, in the sandbox's namespace), so the query
   * goes as the container's own traffic would, as Docker dials every
   * server but the host's loopback ones; else from this process's namespace.
   */
  dialInside?: (server: string) => boolean;
  insideSocket?: (family: 4 | 6, type: 'udp' | 'tcp') => Promise<number>;
}

/** Sockets made elsewhere (e.g. inside a sandbox's namespace by `Netns.socket`), bound, not yet listening. */
export interface DnsSockets {
  udpFd?: number;
  tcpFd?: number;
  /** Family of both sockets; 4 unless given. */
  family?: 4 | 6;
}

export interface DnsStats {
  tcpAccepted: number;
  /** Closed at once for want of room. */
  tcpRefused: number;
  /** Idle ones closed to make room for a new connection. */
  tcpEvicted: number;
  tcpTimedOut: number;
  forwarded: number;
  /** Answered SERVFAIL without forwarding, for want of room. */
  forwardsRefused: number;
  forwardTimeouts: number;
}

interface Conn { s: net.Socket; client: string; busy: number; gone: boolean; timer?: NodeJS.Timeout }

const counter = (m: Map<string, number>, k: string, d: number) => {
  const v = (m.get(k) ?? 0) + d;
  if (v > 0) m.set(k, v); else m.delete(k);
};

/** A copy of `a` in random order (Fisher-Yates). */
function shuffled<T>(a: readonly T[]): T[] {
  const out = [...a];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

export class DnsServer {
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private names: Names;
  private limits: DnsLimits;
  private budget: DnsBudget;
  private ttl: number;
  private ndotsSet: boolean;
  private dialInside?: (server: string) => boolean;
  private insideSocket?: (family: 4 | 6, type: 'udp' | 'tcp') => Promise<number>;
  private sockets?: DnsSockets;
  private addr: string;
  private conns = new Set<Conn>();
  private tcpByClient = new Map<string, number>();
  private forwards = 0;
  private forwardsByClient = new Map<string, number>();
  private aborts = new Set<() => void>();
  private started = false;
  private closed = false;
  /** The watch of handed sockets not taken over yet (start whenAsked). */
  private watch?: number;
  readonly stats: DnsStats = { tcpAccepted: 0, tcpRefused: 0, tcpEvicted: 0, tcpTimedOut: 0, forwarded: 0, forwardsRefused: 0, forwardTimeouts: 0 };

  /**
   * A server for `address`:`port` (bound by `start`). `names` is a lookup
   * function, or an object that can also answer PTR. `upstreams` null: no
   * forwarding at all (internal networks), unknown names are REFUSED.
   */
  constructor(address: string, names: Lookup | Names, private upstreams: string[] | null, private port = 53, opts: DnsServerOptions = {}) {
    if (address !== '' && !net.isIP(address)) throw invalid(`invalid DNS server address: ${JSON.stringify(address)}`);
    for (const u of upstreams ?? []) if (typeof u !== 'string' || !net.isIP(u)) throw invalid(`invalid upstream DNS server: ${JSON.stringify(u)}`);
    this.addr = address;
    this.names = typeof names === 'function' ? { lookup: names } : names;
    const limits = { ...DEFAULT_LIMITS, ...opts.limits };
    for (const [k, v] of Object.entries(limits)) if (!Number.isInteger(v) || v < 1) throw invalid(`invalid DNS limit ${k}: ${v}`);
    this.limits = limits;
    this.budget = opts.budget ?? processBudget;
    this.ttl = opts.ttl ?? 600;
    this.ndotsSet = opts.ndotsSet ?? false;
    this.dialInside = opts.dialInside;
    this.insideSocket = opts.insideSocket;
  }

  /**
   * A server on sockets it is handed instead of an address to bind: for a
   * resolver at 127.0.0.11 inside a sandbox, `ns.socket(4, 'udp', {address:
   * '127.0.0.11', port: 53})` and the same for 'tcp' (Docker opens its
   * resolver's sockets inside the container's namespace too). The server owns
   * the descriptors from here on; `start()` serves them, `close()` closes them.
   */
  /** Where unknown names go from now on (null: nowhere, REFUSED), as a sandbox's networks change. */
  setUpstreams(upstreams: string[] | null): void {
    for (const u of upstreams ?? []) if (typeof u !== 'string' || !net.isIP(u)) throw invalid(`invalid upstream DNS server: ${JSON.stringify(u)}`);
    this.upstreams = upstreams;
  }

  static fromSockets(sockets: DnsSockets, names: Lookup | Names, upstreams: string[] | null, opts: DnsServerOptions = {}): DnsServer {
    for (const fd of [sockets.udpFd, sockets.tcpFd]) {
      if (fd !== undefined && (!Number.isInteger(fd) || fd < 0)) throw invalid(`invalid socket fd: ${fd}`);
    }
    if (sockets.udpFd === undefined && sockets.tcpFd === undefined) throw invalid('fromSockets needs udpFd or tcpFd');
    if (sockets.family !== undefined && sockets.family !== 4 && sockets.family !== 6) throw invalid(`invalid family: ${sockets.family}`);
    const s = new DnsServer('', names, upstreams, 0, opts);
    s.sockets = sockets;
    return s;
  }

  /** The address served (for handed sockets, the one they are bound to, once started). */
  get address(): string { return this.addr; }

  /** The ports the server listens on, once started (a socket bound to port 0 got one from the kernel). */
  get ports(): { udp?: number; tcp?: number } {
    const port = (a: unknown) => (a && typeof a === 'object' && 'port' in a ? (a as { port: number }).port : undefined);
    return { udp: this.udp ? port(this.udp.address()) : undefined, tcp: port(this.tcp?.address()) };
  }

  /**
   * Binds (or takes over the handed sockets) and serves. `whenAsked`, with
   * handed sockets (a TCP one already listening): nothing is set up until
   * the first query or connection arrives, which waits in the socket
   * meanwhile; a sandbox that never looks a name up costs no server.
   */
  async start(opts: { whenAsked?: boolean } = {}): Promise<void> {
    if (this.started || this.closed) throw invalid('DNS server already started or closed');
    this.started = true;
    if (this.sockets && opts.whenAsked) {
      const s = this.sockets;
      const fds = [s.udpFd, s.tcpFd].filter((fd): fd is number => fd !== undefined);
      this.watch = native.watchReadable(fds, () => {
        this.watch = undefined;
        if (this.closed) return;
        this.startOnSockets(s).catch(() => { /* closed: queries go unanswered, as with no server */ });
      });
      return;
    }
    if (this.sockets) return this.startOnSockets(this.sockets);
    const udp = this.makeUdp(net.isIP(this.addr) === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.port, this.addr, () => { udp.off('error', reject); resolve(); });
    });
    const tcp = this.makeTcp();
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(this.port, this.addr, () => { tcp.off('error', reject); resolve(); });
      });
    } catch (e: any) {
      // Another server for this network (another process's) holds TCP: UDP,
      // which several may share, is enough for names.
      if (e.code === 'EADDRINUSE') return;
      this.close();
      throw e;
    }
    tcp.unref();
    this.tcp = tcp;
  }

  private async startOnSockets(s: DnsSockets): Promise<void> {
    try {
      if (s.udpFd !== undefined) {
        const udp = this.makeUdp(s.family === 6 ? 'udp6' : 'udp4');
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind({ fd: s.udpFd }, () => { udp.off('error', reject); resolve(); });
        });
        this.addr = udp.address().address;
      }
      if (s.tcpFd !== undefined) {
        const tcp = this.makeTcp();
        this.tcp = tcp;
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen({ fd: s.tcpFd }, () => { tcp.off('error', reject); resolve(); });
        });
        tcp.unref();
        const a = tcp.address();
        if (a && typeof a === 'object') this.addr = a.address;
      }
    } catch (e) {
      // A descriptor not adopted yet is still ours to close.
      if (s.tcpFd !== undefined && !this.tcp) try { fs.closeSync(s.tcpFd); } catch { /* closed */ }
      this.close();
      throw e;
    }
  }

  private makeUdp(type: 'udp4' | 'udp6'): dgram.Socket {
    const udp = dgram.createSocket({ type, reuseAddr: true });
    udp.on('message', (msg, rinfo) => {
      this.answer(msg, { client: rinfo.address }).then((out) => { if (out && !this.closed) udp.send(out, rinfo.port, rinfo.address); }).catch(() => {});
    });
    udp.on('error', () => {});
    this.udp = udp;
    udp.unref();
    return udp;
  }

  private makeTcp(): net.Server {
    const tcp = net.createServer((s) => this.accept(s));
    tcp.on('error', () => {});
    return tcp;
  }

  // ---- TCP connections ----

  private accept(s: net.Socket): void {
    const client = s.remoteAddress ?? '';
    s.on('error', () => {});
    const L = this.limits;
    const room = (count: () => number, cap: number, which: (c: Conn) => boolean) => count() < cap || this.evictIdle(which);
    if (this.closed
      || !room(() => this.tcpByClient.get(client) ?? 0, L.tcpPerClient, (c) => c.client === client)
      || !room(() => this.conns.size, L.tcpPerServer, () => true)
      || !room(() => this.budget.tcpInUse, this.budget.tcp, () => true)) {
      this.stats.tcpRefused++;
      s.destroy();
      return;
    }
    const c: Conn = { s, client, busy: 0, gone: false };
    this.conns.add(c);
    counter(this.tcpByClient, client, 1);
    this.budget.tcpInUse++;
    this.stats.tcpAccepted++;
    s.unref();
    s.setNoDelay(true);
    // Each message must be whole within its deadline (the first sooner), as
    // miekg/dns reads them: a byte now and then does not keep a connection.
    // Past it: closed, unless a forward for it is still out (those end by their own deadline).
    const deadline = (ms: number) => {
      clearTimeout(c.timer);
      c.timer = setTimeout(() => {
        if (c.gone) return;
        if (c.busy > 0) { deadline(L.tcpIdleMs); return; }
        this.stats.tcpTimedOut++;
        this.drop(c);
      }, ms);
      c.timer.unref();
    };
    deadline(L.tcpFirstQueryMs);
    const deframer = new Deframer();
    s.on('data', (chunk) => {
      let msgs: Buffer[];
      try { msgs = deframer.push(chunk); } catch { this.drop(c); return; }
      if (msgs.length) deadline(L.tcpIdleMs);
      for (const m of msgs) {
        c.busy++;
        if (c.busy >= L.tcpPipeline) s.pause();
        this.answer(m, { client, tcp: true }).then((out) => {
          c.busy--;
          if (c.gone) return;
          if (c.busy < L.tcpPipeline) s.resume();
          // A client that reads nothing does not get to pile answers up here.
          if (out && s.writableLength > 256 * 1024) { this.drop(c); return; }
          if (out) s.write(frame(out));
        }, () => { c.busy--; this.drop(c); });
      }
    });
    s.on('close', () => this.drop(c));
  }

  /** Closes the oldest connection matching `which` that has no query in flight; false if none. */
  private evictIdle(which: (c: Conn) => boolean): boolean {
    for (const c of this.conns) {
      if (c.busy === 0 && which(c)) {
        this.stats.tcpEvicted++;
        this.drop(c);
        return true;
      }
    }
    return false;
  }

  private drop(c: Conn): void {
    if (c.gone) return;
    c.gone = true;
    clearTimeout(c.timer);
    this.conns.delete(c);
    counter(this.tcpByClient, c.client, -1);
    this.budget.tcpInUse--;
    c.s.destroy();
  }

  // ---- Answers ----

  /**
   * The reply to one query (raw bytes, as from UDP or one TCP frame), or
   * undefined to stay silent. `via.client` is the asking address (for the
   * per-client caps), `via.tcp` whether it came over TCP (no size limit,
   * forwarded over TCP too).
   */
  async answer(msg: Buffer, via: { client?: string; tcp?: boolean } = {}): Promise<Buffer | undefined> {
    const d = decodeQuery(msg);
    if ('drop' in d) return undefined;
    if ('reply' in d) return d.reply;
    const q = d.query;
    const records = this.local(q);
    if (records) return encodeReply(q, RCODE.NOERROR, records, { maxSize: via.tcp ? undefined : udpLimit(q) });
    if (this.ndotsSet && (q.type === 'A' || q.type === 'AAAA') && q.name !== '' && !q.name.includes('.')) return encodeReply(q, RCODE.NOERROR, []);
    return this.forward(msg, q, via);
  }

  /** Records for a name this server knows ([] for no data of that type), or undefined to forward. */
  private local(q: Query): LocalRecord[] | undefined {
    // An EDNS version we do not speak: BADVERS from here, whatever the name.
    if (q.edns && q.edns.version > 0) return [];
    if (q.class !== 'IN' || q.dotInLabel) return undefined;
    const name = q.name.toLowerCase();
    const { lookup, reverse } = this.names;
    const rr = (type: LocalRecord['type'], data: string[]) => data.map((d) => ({ type, data: d, ttl: this.ttl }));
    if (q.type === 'A' || q.type === 'AAAA') {
      const ips = lookup(name, q.type);
      // In a new order each time, as Docker's resolver answers (clients
      // take the first: the load spreads over a name's containers).
      if (ips) return rr(q.type, shuffled(ips));
      // Known in the other family only: NOERROR, no data (NXDOMAIN would
      // tell a resolver the name does not exist at all).
      return lookup(name, q.type === 'A' ? 'AAAA' : 'A') !== undefined ? [] : undefined;
    }
    if (q.type === 'PTR' && reverse) {
      const ip = reverseAddress(name);
      // (Only names a DNS message can carry: dns-packet would write a bad label.)
      const names = ip === undefined ? undefined : reverse(ip)?.filter(isDnsName);
      if (names?.length) return rr('PTR', names);
    }
    return lookup(name, 'A') !== undefined || lookup(name, 'AAAA') !== undefined ? [] : undefined;
  }

  private async forward(msg: Buffer, q: Query, via: { client?: string; tcp?: boolean }): Promise<Buffer | undefined> {
    // REFUSED, as Docker answers on internal networks (CVE-2024-29018:
    // forwarding would be their way out); a resolver then tries the next
    // server of its resolv.conf, if it has one.
    if (this.upstreams === null) return encodeReply(q, RCODE.REFUSED, []);
    // No server to ask: SERVFAIL, as Docker's resolver answers then.
    if (this.upstreams.length === 0) return encodeReply(q, RCODE.SERVFAIL, []);
    const client = via.client ?? '';
    const L = this.limits;
    if (this.closed || (this.forwardsByClient.get(client) ?? 0) >= L.forwardPerClient || this.forwards >= L.forwardPerServer || this.budget.forwardsInUse >= this.budget.forwards) {
      this.stats.forwardsRefused++;
      return encodeReply(q, RCODE.SERVFAIL, []);
    }
    this.forwards++;
    this.budget.forwardsInUse++;
    counter(this.forwardsByClient, client, 1);
    this.stats.forwarded++;
    try {
      for (const server of this.upstreams.slice(0, L.maxUpstreams)) {
        if (this.closed) return undefined;
        const reply = await this.exchange(msg, server, !!via.tcp);
        // SERVFAIL or REFUSED (perhaps passing): the next server, as Docker goes on.
        if (reply && (reply[3] & 0xf) !== RCODE.SERVFAIL && (reply[3] & 0xf) !== RCODE.REFUSED) return reply;
      }
    } finally {
      this.forwards--;
      this.budget.forwardsInUse--;
      counter(this.forwardsByClient, client, -1);
    }
    return this.closed ? undefined : encodeReply(q, RCODE.SERVFAIL, []);
  }

  /**
   * One exchange with one upstream, with a socket of its own (a fresh
   * source port per query, as Docker's resolver does) that lives at most
   * `forwardTimeoutMs`, made inside the sandbox when `dialInside` says so.
   * The reply comes back byte for byte.
   */
  private exchange(msg: Buffer, server: string, tcp: boolean): Promise<Buffer | undefined> {
    const family = net.isIPv6(server) ? 6 : 4;
    const make = this.insideSocket && this.dialInside?.(server) ? this.insideSocket : undefined;
    const id = msg.readUInt16BE(0);
    const ok = (m: Buffer) => m.length >= 12 && m.readUInt16BE(0) === id && (m.readUInt16BE(2) & 0x8000) !== 0;
    return new Promise((resolve) => {
      let done = false;
      let close = () => {};
      const finish = (m?: Buffer) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.aborts.delete(abort);
        close();
        resolve(m);
      };
      const abort = () => finish();
      this.aborts.add(abort);
      const timer = setTimeout(() => { this.stats.forwardTimeouts++; finish(); }, this.limits.forwardTimeoutMs);
      const start = (fd?: number) => {
        if (done) { if (fd !== undefined) try { fs.closeSync(fd); } catch { /* closed */ } return; }
        if (tcp) {
          const s = fd === undefined ? net.connect({ host: server, port: 53 }) : new net.Socket({ fd, readable: true, writable: true }).connect(53, server);
          close = () => s.destroy();
          const deframer = new Deframer();
          s.on('connect', () => s.write(frame(msg)));
          s.on('data', (chunk) => { for (const m of deframer.push(chunk)) if (ok(m)) return finish(m); });
          s.on('error', () => finish());
          s.on('close', () => finish());
        } else {
          const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
          close = () => { try { s.close(); } catch { /* closed */ } };
          const want = canonicalIp(server);
          s.on('message', (m, rinfo) => {
            // Only the server asked, with our id: anything else is noise or spoofing.
            if (rinfo.port === 53 && canonicalIp(rinfo.address) === want && ok(m)) finish(m);
          });
          s.on('error', () => finish());
          const send = () => s.send(msg, 53, server, (err) => { if (err) finish(); });
          if (fd === undefined) send(); else s.bind({ fd }, send);
        }
      };
      // (The sandbox gone, or no thread to enter it: this server is skipped.)
      if (make) make(family, tcp ? 'tcp' : 'udp').then(start, () => finish());
      else start();
    });
  }

  /** Connections and forwards in progress (for tests and `inspect`). */
  get load(): { tcp: number; forwards: number } { return { tcp: this.conns.size, forwards: this.forwards }; }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try { this.udp?.close(); } catch { /* closed */ }
    this.tcp?.close();
    for (const c of [...this.conns]) this.drop(c);
    for (const a of [...this.aborts]) a();
    // Handed sockets that start() never adopted are still ours to close.
    const unadopted = this.watch !== undefined;
    if (unadopted) { native.unwatchReadable(this.watch!); this.watch = undefined; }
    if ((!this.started || unadopted) && this.sockets) {
      for (const fd of [this.sockets.udpFd, this.sockets.tcpFd]) if (fd !== undefined) try { fs.closeSync(fd); } catch { /* closed */ }
    }
  }
}
