// The README's main job, run inside a throwaway namespace (scripts/isolated.sh):
// Docker's classic scenario through the CNM controller, with no process
// spawned. A user-defined bridge network; an HTTP server in one sandbox
// published on host port 8080; a client in a second sandbox that finds the
// server by name (our embedded DNS) and fetches from it; a request from the
// host namespace to 127.0.0.1:8080; then the addresses, routes and nftables
// rules involved, and a clean-up.
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Controller, Netns, Rtnl } from './index';

/** A DNS A query over TCP from inside a namespace (no resolver process needed). */
async function resolveIn(ns: Netns, server: string, name: string): Promise<string> {
  const q = Buffer.concat([
    Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
    ...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])),
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(q.length);
  const reply = await new Promise<Buffer>((resolve, reject) => {
    const s = new net.Socket({ fd: ns.socket(4, 'tcp'), readable: true, writable: true });
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) { s.destroy(); resolve(buf.subarray(2)); }
    });
    s.on('error', reject);
    s.connect(53, server, () => s.write(Buffer.concat([len, q])));
  });
  if (reply.readUInt16BE(6) < 1) throw new Error(`${name}: no answer`);
  const a = reply.subarray(reply.length - 4);
  return [...a].join('.');
}

function httpGet(opts: { host: string; port: number; fd?: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({
      host: opts.host, port: opts.port, path: '/', timeout: 3000,
      ...(opts.fd !== undefined ? { createConnection: () => new net.Socket({ fd: opts.fd, readable: true, writable: true }).connect(opts.port, opts.host) } : {}),
    }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d)).on('end', () => resolve(body));
    });
    req.on('error', reject).on('timeout', () => req.destroy(new Error('timeout')));
  });
}

async function main(): Promise<void> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-demo-'));
  const ctl = await Controller.open({ stateDir, upstreamDns: [] });
  let server: http.Server | undefined;
  try {
    console.log('$ cnm network create demo-net');
    const netw = await ctl.createNetwork({ name: 'demo-net' });
    const i = netw.inspect();
    console.log(`  ${i.Id.slice(0, 12)} subnet ${i.IPAM.Config![0].Subnet} gateway ${i.IPAM.Config![0].Gateway} bridge ${netw.bridge}`);

    console.log('$ cnm run --network demo-net --name web -p 8080:80 (an HTTP server)');
    const web = await ctl.createSandbox({ id: 'web' });
    const webEp = await netw.createEndpoint({ name: 'web', ports: ['8080:80'] });
    await webEp.join(web);
    const webNs = await web.netns();
    server = http.createServer((req, res) => res.end(`hello from web (${webEp.ipv4}), you are ${req.socket.remoteAddress}\n`));
    await new Promise<void>((r) => server!.listen({ fd: webNs.socket(4, 'tcp', { address: '0.0.0.0', port: 80 }) }, r));
    webNs.close();

    console.log('$ cnm run --network demo-net --name client (a client)');
    const client = await ctl.createSandbox({ id: 'client' });
    const clientEp = await netw.createEndpoint({ name: 'client' });
    await clientEp.join(client);
    const clientNs = await client.netns();
    // The sandbox's own resolver, at 127.0.0.11 inside its namespace, as Docker's.
    const webIp = await resolveIn(clientNs, '127.0.0.11', 'web');
    console.log(`  client resolved "web" -> ${webIp} (embedded DNS at 127.0.0.11:53 in the client's namespace)`);
    console.log(`  client GET http://web/ -> ${(await httpGet({ host: webIp, port: 80, fd: clientNs.socket(4, 'tcp') })).trim()}`);
    console.log(`  host   GET http://127.0.0.1:8080/ -> ${(await httpGet({ host: '127.0.0.1', port: 8080 })).trim()}`);
    console.log(`  client GET http://${netw.gateway}:8080/ (published port, hairpin) -> ${(await httpGet({ host: netw.gateway!, port: 8080, fd: clientNs.socket(4, 'tcp') })).trim()}`);

    console.log('\nWhat was built:');
    for (const sb of [web, client]) {
      const ns = await sb.netns();
      const rt = await Rtnl.open({ netns: ns });
      console.log(`  sandbox ${sb.name} (${sb.key}):`);
      for (const a of await rt.addr.list({ family: 4 })) console.log(`    addr  ${a.address} dev ${(await rt.link.get(a.index)).name}`);
      for (const r of await rt.route.list({ family: 4 })) console.log(`    route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${(await rt.link.get(r.dev!)).name}`);
      console.log(`    resolv.conf: ${fs.readFileSync(sb.resolvConfPath, 'utf8').split('\n').filter((l) => l.startsWith('nameserver')).join(', ')}`);
      rt.close();
      ns.close();
    }
    const host = await Rtnl.open();
    const ports = await host.link.list({ master: netw.bridge! });
    console.log(`  host: bridge ${netw.bridge} with ports ${ports.map((p) => p.name).join(', ')}`);
    host.close();
    clientNs.close();
    console.log('\nnftables (table ip cnm-netlink, all one transaction per change, no nft process):');
    console.log((await ctl.describeFirewall()).split('\n').map((l) => `  ${l}`).join('\n'));
  } finally {
    server?.close();
    await ctl.destroy();
  }
  console.log('\ncleaned up: sandboxes, veths, bridge, nftables tables and state removed');
}

main().catch((e) => { console.error(`demo failed: ${e.message}`); process.exit(1); });
