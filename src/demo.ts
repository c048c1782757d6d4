// The README's main job: inside a throwaway namespace (scripts/isolated.sh),
// build a bridge, two "containers" (namespaces) each joined by a veth born
// inside it, and prove they talk over TCP. No process is spawned.
import * as net from 'net';
import { Netns, Rtnl } from './index';

async function main(): Promise<void> {
  const host = await Rtnl.open();
  const sandboxes = await Promise.all([Netns.create('demo-a'), Netns.create('demo-b')]);
  try {
    await host.link.add({ kind: 'bridge', name: 'demo0', bridge: { stp: false } });
    await host.addr.add('demo0', '172.30.0.1/24');
    await host.link.set('demo0', { up: true });
    const ips = ['172.30.0.2', '172.30.0.3'];
    for (const [i, ns] of sandboxes.entries()) {
      // One request: the container end is born inside the sandbox as eth0.
      await host.link.add({ kind: 'veth', name: `veth-demo${i}`, master: 'demo0', peer: { name: 'eth0', netns: ns, address: `02:42:ac:1e:00:0${i + 2}` } });
      await host.link.set(`veth-demo${i}`, { up: true });
      const c = await Rtnl.open({ netns: ns });
      await c.link.set('lo', { up: true });
      await c.addr.add('eth0', `${ips[i]}/24`);
      await c.link.set('eth0', { up: true });
      await c.route.add({ dst: 'default', gateway: '172.30.0.1' });
      console.log(`sandbox ${ns.name}:`);
      for (const l of await c.link.list()) console.log(`  link ${l.index}: ${l.name} ${l.address ?? ''} mtu ${l.mtu} ${l.up ? 'UP' : 'DOWN'}`);
      for (const a of await c.addr.list({ family: 4 })) console.log(`  addr ${a.address}`);
      for (const r of await c.route.list({ family: 4 })) console.log(`  route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${r.dev}`);
      c.close();
    }
    // A TCP server inside demo-b, a client inside demo-a: sockets are made
    // in the namespaces by the addon and adopted by Node.
    const server = net.createServer((s) => s.end(`hello from ${ips[1]} (demo-b)\n`));
    await new Promise<void>((r) => server.listen({ fd: sandboxes[1].socket(4, 'tcp', { address: ips[1], port: 8080 }) }, r));
    const reply = await new Promise<string>((resolve, reject) => {
      const s = new net.Socket({ fd: sandboxes[0].socket(4, 'tcp'), readable: true, writable: true });
      let data = '';
      s.on('data', (d) => (data += d)).on('end', () => resolve(data)).on('error', reject);
      s.connect(8080, ips[1]);
    });
    server.close();
    console.log(`demo-a -> ${ips[1]}:8080 answered: ${reply.trim()}`);
    const br = await host.link.get('demo0');
    console.log(`bridge demo0: ports ${(await host.link.list({ master: 'demo0' })).map((l) => l.name).join(', ')}; rx ${br.stats.rxPackets} packets`);
  } finally {
    for (const ns of sandboxes) await ns.delete();
    await host.link.delete('demo0').catch(() => {});
    host.close();
  }
  console.log('cleaned up: namespaces deleted, bridge removed');
}

main().catch((e) => { console.error(`demo failed: ${e.message}`); process.exit(1); });
