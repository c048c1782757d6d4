import * as assert from 'assert';
import { Netns, Rtnl, RtnlEvent } from '../src';
import { eventually, ip } from './helpers';

describe('events', () => {
  it('streams typed link, addr, route and neigh events of its namespace', async () => {
    const ns = await Netns.create();
    const rt = await Rtnl.open({ netns: ns });
    const ev = rt.events();
    try {
      await rt.link.add({ kind: 'veth', name: 'e0', peer: { name: 'e1' } });
      await rt.link.set('e0', { up: true });
      await rt.addr.add('e0', '10.40.0.1/24');
      await rt.route.add({ dst: '10.41.0.0/16', gateway: '10.40.0.2' });
      await rt.neigh.add('e0', { dst: '10.40.0.2', lladdr: '02:00:00:00:40:02' });
      const link = await ev.waitFor((e) => e.type === 'link' && e.action === 'new' && e.object.name === 'e0');
      assert.strictEqual((link as any).object.kind, 'veth');
      const addr = await ev.waitFor((e) => e.type === 'addr' && e.object.local === '10.40.0.1');
      assert.strictEqual((addr as any).action, 'new');
      await ev.waitFor((e) => e.type === 'route' && e.object.dst === '10.41.0.0/16');
      await ev.waitFor((e) => e.type === 'neigh' && e.object.dst === '10.40.0.2');
      await rt.link.delete('e0');
      await ev.waitFor((e) => e.type === 'link' && e.action === 'del' && e.object.name === 'e0');
    } finally {
      ev.close();
      rt.close();
      ns.close();
    }
  });

  it('does not see events of other namespaces', async () => {
    const ns = await Netns.create();
    const rt = await Rtnl.open({ netns: ns });
    const ev = rt.events(['link']);
    const seen: RtnlEvent[] = [];
    ev.on('event', (e) => seen.push(e));
    const host = await Rtnl.open();
    try {
      await host.link.add({ kind: 'bridge', name: 'elsewhere0' });
      await rt.link.add({ kind: 'bridge', name: 'here0' });
      await ev.waitFor((e) => e.type === 'link' && (e as any).object.name === 'here0');
      assert.ok(!seen.some((e) => e.type === 'link' && e.object.name === 'elsewhere0'));
    } finally {
      await host.link.delete('elsewhere0');
      host.close();
      ev.close();
      rt.close();
      ns.close();
    }
  });

  it('works as an async iterator', async () => {
    const ns = await Netns.create();
    const rt = await Rtnl.open({ netns: ns });
    const ev = rt.events(['link']);
    const names: string[] = [];
    const done = (async () => {
      for await (const e of ev) {
        if (e.type === 'link' && e.action === 'new') names.push(e.object.name);
        if (names.includes('it2')) break;
      }
    })();
    await rt.link.add({ kind: 'bridge', name: 'it1' });
    await rt.link.add({ kind: 'bridge', name: 'it2' });
    await done;
    assert.ok(names.includes('it1') && names.includes('it2'));
    rt.close();
    ns.close();
  });

  it('reports a flood that overflowed the queue as an overrun and keeps going', async () => {
    const ns = await Netns.create();
    const rt = await Rtnl.open({ netns: ns });
    // A tiny receive buffer and a burst of changes: the kernel must drop.
    const { RtnlEvents } = require('../src/rtnl/events');
    const ev = new RtnlEvents(ns.fd, ['link', 'addr'], 32768);
    let overruns = 0;
    ev.on('overrun', (e: any) => { overruns++; assert.strictEqual(e.error.code, 'ENOBUFS'); });
    try {
      // Block the loop while the writer thread has the kernel make them and
      // fill our queue (on a loaded machine the loop could otherwise keep
      // up); a few rounds, as a busy kernel may pace the flood.
      for (let round = 0; round < 5 && !overruns; round++) {
        const adds = Promise.all(Array.from({ length: 300 }, (_, i) => rt.link.add({ kind: 'bridge', name: `fl${round}x${i}` }, { echo: false })));
        // (The requests leave at the end of this tick: let them go first.)
        await new Promise((r) => setImmediate(r));
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
        await adds;
        await new Promise((r) => setTimeout(r, 200));
      }
      await eventually(() => assert.ok(overruns >= 1, 'expected an overrun'));
      // Still alive after the overrun.
      await rt.link.add({ kind: 'bridge', name: 'after0' });
      await ev.waitFor((e: RtnlEvent) => e.type === 'link' && (e as any).object.name === 'after0');
    } finally {
      ev.close();
      rt.close();
      ns.close();
    }
  });
});
