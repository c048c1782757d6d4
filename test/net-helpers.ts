// TCP/UDP helpers that run inside namespaces without spawning: the socket
// is made in the namespace by the addon and adopted by Node.
import * as net from 'net';
import * as dgram from 'dgram';
import { execFile } from 'child_process';
import { Netns, Rtnl } from '../src';

/**
 * A TCP server in `ns` (or here) answering every connection with
 * `reply(remoteAddress)`. What the client sends is read and dropped: unread,
 * it would keep the connection (and its namespace) open after the client's FIN.
 */
export async function tcpServer(ns: Netns | null, address: string, port: number, reply: (remote: string) => string): Promise<net.Server> {
  // (A client that gave up resets the connection: its side reports that, not the server's.)
  const server = net.createServer((s) => { s.on('error', () => {}); s.resume(); s.end(reply(s.remoteAddress ?? '')); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (ns) server.listen({ fd: ns.socket(net.isIPv6(address) ? 6 : 4, 'tcp', { address, port }) }, resolve);
    else server.listen(port, address, resolve);
  });
  return server;
}

/**
 * Connects from `ns` (or here) and returns what the server said, or throws.
 * The default wait is long: right after links come up, the first SYN can be
 * lost (its retry comes 1 s later, the next 3 s after); a pass returns at once.
 */
export function tcpGet(ns: Netns | null, host: string, port: number, timeoutMs = 10000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = ns ? new net.Socket({ fd: ns.socket(net.isIPv6(host) ? 6 : 4, 'tcp'), readable: true, writable: true }) : new net.Socket();
    let data = '';
    const timer = setTimeout(() => { s.destroy(); reject(Object.assign(new Error(`timeout connecting to ${host}:${port}`), { code: 'ETIMEDOUT' })); }, timeoutMs);
    s.on('data', (d) => (data += d));
    s.on('end', () => { clearTimeout(timer); resolve(data); });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.connect(port, host);
  });
}

/** True if a TCP connection succeeds. */
export async function canConnect(ns: Netns | null, host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  try { await tcpGet(ns, host, port, timeoutMs); return true; } catch { return false; }
}

/** A UDP server inside the named namespace answering each datagram with `reply` (a helper process: dgram cannot adopt an fd). */
export async function udpServer(nsName: string, address: string, port: number, reply: string): Promise<{ close(): void }> {
  const child = require('child_process').spawn('ip', ['netns', 'exec', nsName, process.execPath, '-e',
    `const d=require('dgram').createSocket('udp4');d.on('message',(m,r)=>d.send(${JSON.stringify(reply)},r.port,r.address));d.bind(${port},'${address}',()=>console.log('ready'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => { child.kill(); reject(new Error('udp server did not start')); }, 20000);
    child.stdout.once('data', () => { clearTimeout(t); resolve(); });
    child.once('exit', (c: number) => { clearTimeout(t); reject(new Error(`udp server exited ${c}`)); });
  });
  return { close: () => child.kill() };
}

/**
 * A DNS server in namespace `nsName` (its own process) on `address`:53 UDP
 * ('' : this process's) that answers every A query with `answer`: a stand-in upstream.
 */
export async function dnsServer(nsName: string, address: string, answer: string): Promise<{ close(): void }> {
  const dnsPacket = require.resolve('dns-packet');
  const script = `const p=require(${JSON.stringify(dnsPacket)});const d=require('dgram').createSocket('udp4');` +
    `d.on('message',(m,r)=>{const q=p.decode(m);d.send(p.encode({id:q.id,type:'response',flags:p.RECURSION_AVAILABLE,questions:q.questions,answers:[{type:'A',name:q.questions[0].name,ttl:5,data:${JSON.stringify(answer)}}]}),r.port,r.address)});` +
    `d.bind(53,'${address}',()=>console.log('ready'))`;
  // ('' : this process's own namespace.)
  const [cmd, args] = nsName ? ['ip', ['netns', 'exec', nsName, process.execPath, '-e', script]] : [process.execPath, ['-e', script]];
  const child = require('child_process').spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => { child.kill(); reject(new Error('dns server did not start')); }, 20000);
    child.stdout.once('data', () => { clearTimeout(t); resolve(); });
    child.once('exit', (c: number) => { clearTimeout(t); reject(new Error(`dns server exited ${c}`)); });
  });
  return { close: () => child.kill() };
}

/** Sends a datagram from here every 250 ms until one is answered or `timeoutMs` pass. */
export function udpAsk(host: string, port: number, timeoutMs = 10000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const send = () => s.send('ping', port, host);
    const again = setInterval(send, 250);
    const timer = setTimeout(() => { clearInterval(again); s.close(); reject(new Error('udp timeout')); }, timeoutMs);
    s.on('message', (m) => { clearTimeout(timer); clearInterval(again); s.close(); resolve(m.toString()); });
    send();
  });
}

/** Runs a command (async, so an in-process DNS server can answer meanwhile); killed after `timeoutMs`. */
export function run(cmd: string, args: string[], timeoutMs = 30000): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => execFile(cmd, args, { timeout: timeoutMs }, (e: any, out, err) => resolve({ code: e ? (e.code ?? 1) : 0, out, err })));
}

/**
 * An underlay of "hosts": a bridge `bridge` here (with `address` when
 * given) and, in each host namespace, an `eth0` on it with `addressOf(i)/24`,
 * up. Returns a handle per host, open (the caller closes them).
 */
export async function underlay(top: Rtnl, bridge: string, hosts: Netns[], addressOf: (i: number) => string, address?: string): Promise<Rtnl[]> {
  await top.link.add({ kind: 'bridge', name: bridge, bridge: { stp: false } });
  if (address) await top.addr.add(bridge, `${address}/24`);
  await top.link.set(bridge, { up: true });
  const out: Rtnl[] = [];
  for (const [i, ns] of hosts.entries()) {
    await top.link.add({ kind: 'veth', name: `${bridge}-${i}`, master: bridge, peer: { name: 'eth0', netns: ns } });
    await top.link.set(`${bridge}-${i}`, { up: true });
    const rt = await Rtnl.open({ netns: ns });
    out.push(rt);
    await rt.addr.add('eth0', `${addressOf(i)}/24`);
    await rt.link.set('eth0', { up: true });
  }
  return out;
}

/**
 * Undoes `underlay`: the host veths explicitly (a namespace's own links go
 * with it only once the kernel's cleanup work has run), then the bridge.
 */
export async function removeUnderlay(top: Rtnl, bridge: string, hosts: number): Promise<void> {
  for (let i = 0; i < hosts; i++) await top.link.delete(`${bridge}-${i}`).catch(() => undefined);
  await top.link.delete(bridge).catch(() => undefined);
}

type AddrArg = Parameters<Rtnl['addr']['add']>[1];

/**
 * A namespace standing in for the rest of the world: a veth from this
 * namespace (ext0, with `host` addresses) to it (eth0, with `outside`
 * addresses), both up, and no route back to container subnets, so replies
 * need NAT. `remove()` undoes it.
 */
export async function outsideNamespace(rt: Rtnl, host: AddrArg[], outside: AddrArg[], name = 'outside'): Promise<{ ns: Netns; remove(): Promise<void> }> {
  const ns = await Netns.create(name);
  await rt.link.add({ kind: 'veth', name: 'ext0', peer: { name: 'eth0', netns: ns } });
  for (const a of host) await rt.addr.add('ext0', a);
  await rt.link.set('ext0', { up: true });
  const o = await Rtnl.open({ netns: ns });
  try {
    await o.link.set('lo', { up: true });
    for (const a of outside) await o.addr.add('eth0', a);
    await o.link.set('eth0', { up: true });
  } finally {
    o.close();
  }
  return {
    ns,
    async remove() {
      await ns.delete();
      await rt.link.delete('ext0').catch(() => {});
    },
  };
}
