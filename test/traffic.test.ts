import * as assert from 'assert';
import * as net from 'net';
import { Netns, Rtnl } from '../src';
import { ping, uniq } from './helpers';

// Real packets between namespaces the test made: a bridge in one namespace,
// two "containers" each joined by a veth born inside it.
describe('traffic', () => {
  it('two namespaces on a bridge ping each other and talk TCP', async () => {
    const names = [uniq('hub'), uniq('c1'), uniq('c2')];
    const [hub, c1, c2] = await Promise.all(names.map((n) => Netns.create(n)));
    const h = await Rtnl.open({ netns: hub });
    try {
      await h.link.add({ kind: 'bridge', name: 'br0', up: true });
      await h.link.set('br0', { up: true });
      const addrs = ['10.50.0.2/24', '10.50.0.3/24'];
      for (const [i, ns] of [c1, c2].entries()) {
        await h.link.add({ kind: 'veth', name: `veth${i}`, master: 'br0', peer: { name: 'eth0', netns: ns } });
        await h.link.set(`veth${i}`, { up: true });
        const c = await Rtnl.open({ netns: ns });
        await c.link.set('lo', { up: true });
        await c.addr.add('eth0', addrs[i]);
        await c.link.set('eth0', { up: true });
        c.close();
      }
      assert.ok(ping(names[1], '10.50.0.3', 2), 'c1 -> c2');
      assert.ok(ping(names[2], '10.50.0.2', 1), 'c2 -> c1');
      assert.ok(!ping(names[1], '10.50.0.9', 1, 1), 'nobody at .9');
      // TCP without spawning: sockets made inside the namespaces.
      const server = net.createServer((s) => s.end('hello from c2'));
      await new Promise<void>((r) => server.listen({ fd: c2.socket(4, 'tcp', { address: '10.50.0.3', port: 8080 }) }, r));
      const fd = c1.socket(4, 'tcp');
      const got = await new Promise<string>((resolve, reject) => {
        const s = new net.Socket({ fd, readable: true, writable: true });
        s.connect(8080, '10.50.0.3');
        let data = '';
        s.on('data', (d) => (data += d));
        s.on('end', () => resolve(data));
        s.on('error', reject);
      });
      server.close();
      assert.strictEqual(got, 'hello from c2');
      const st = (await h.link.get('veth0')).stats;
      assert.ok(st.rxPackets > 0 && st.txPackets > 0);
    } finally {
      h.close();
      for (const ns of [hub, c1, c2]) await ns.delete();
    }
  });
});
