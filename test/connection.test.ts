import * as assert from 'assert';
import { Netns, Rtnl } from '../src';
import { ipj } from './helpers';

describe('netlink connection', () => {
  it('pipelines many requests and matches every reply to its request', async () => {
    const ns = await Netns.create();
    const rt = await Rtnl.open({ netns: ns, window: 64 });
    try {
      const n = 300;
      const res = await Promise.all(Array.from({ length: n }, (_, i) =>
        rt.link.add({ kind: 'veth', name: `pp${i}`, group: 5, peer: { name: `pq${i}` } })));
      // Each echo belongs to its own request.
      res.forEach((l, i) => assert.strictEqual(l!.name, `pp${i}`));
      // Errors in the middle of a burst go to the right caller only.
      const mixed = await Promise.allSettled([
        rt.link.add({ kind: 'bridge', name: 'ok1' }),
        rt.link.add({ kind: 'bridge', name: 'pp3' }),
        rt.link.add({ kind: 'bridge', name: 'ok2' }),
      ]);
      assert.deepStrictEqual(mixed.map((m) => m.status), ['fulfilled', 'rejected', 'fulfilled']);
      assert.strictEqual((mixed[1] as any).reason.code, 'EEXIST');
      const list = await rt.link.list();
      assert.strictEqual(list.length, 2 * n + 3);
    } finally {
      rt.close();
      ns.close();
    }
  });

  it('retries dumps interrupted by concurrent changes and never returns half a dump', async () => {
    const ns = await Netns.create();
    const a = await Rtnl.open({ netns: ns });
    const b = await Rtnl.open({ netns: ns });
    try {
      // Enough links that a dump spans many datagrams.
      await Promise.all(Array.from({ length: 400 }, (_, i) => a.link.add({ kind: 'bridge', name: `d${i}` }, { echo: false })));
      let stop = false;
      let churn = 0;
      const churner = (async () => {
        while (!stop) {
          await b.link.add({ kind: 'bridge', name: 'churn0' }, { echo: false });
          await b.link.delete('churn0');
          churn++;
          // Hundreds of changes a second, not a tight loop (which can starve
          // any dump: each retry is interrupted again, and we give up after 10).
          await new Promise((r) => setTimeout(r, 1));
        }
      })();
      // At least 30 dumps, and on until one was interrupted (the threads must
      // overlap for that, which a loaded machine can delay).
      const until = Date.now() + 15000;
      for (let i = 0; i < 30 || (a.stats.dumpRetries === 0 && Date.now() < until); i++) {
        const l = await a.link.list();
        const stable = l.filter((x) => /^d\d+$/.test(x.name));
        assert.strictEqual(stable.length, 400, 'a dump lost links');
        assert.strictEqual(new Set(l.map((x) => x.index)).size, l.length, 'a dump repeated links');
      }
      stop = true;
      await churner;
      assert.ok(churn > 0);
      assert.ok(a.stats.dumpRetries > 0, 'no dump was interrupted: the test proved nothing');
    } finally {
      a.close();
      b.close();
      ns.close();
    }
  });

  it('a request socket whose replies overflow: every request settles, the lost ones with ENOBUFS', async () => {
    const ns = await Netns.create();
    // A tiny receive buffer and echoed replies in flight at once: the kernel must drop some.
    const rt = await Rtnl.open({ netns: ns, rcvbuf: 4096, window: 1000 });
    try {
      const all = Promise.allSettled(Array.from({ length: 300 }, (_, i) => rt.link.add({ kind: 'bridge', name: `ov${i}` })));
      // Sent (the flush is a microtask), then the loop held while the writer
      // thread sends them all: no read in between, so the overflow is certain
      // whatever else the CPUs are doing.
      await null;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
      const res = await all;
      const lost = res.filter((r) => r.status === 'rejected');
      assert.ok(lost.length > 0, 'expected an overflow');
      for (const r of lost) assert.strictEqual((r as any).reason.code, 'ENOBUFS');
      // Whatever succeeded exists; the handle still works.
      const names = new Set((await rt.link.list()).map((l) => l.name));
      res.forEach((r, i) => { if (r.status === 'fulfilled') assert.ok(names.has(`ov${i}`)); });
      assert.strictEqual((await rt.link.get('lo')).name, 'lo');
    } finally {
      rt.close();
      ns.close();
    }
  });

  it('a handle in one namespace stays there', async () => {
    const ns = await Netns.create();
    const rt = await Rtnl.open({ netns: ns });
    await rt.link.add({ kind: 'bridge', name: 'onlyhere0' });
    assert.ok(!ipj(['link', 'show']).some((l: any) => l.ifname === 'onlyhere0'));
    assert.deepStrictEqual((await rt.link.list()).map((l) => l.name).sort(), ['lo', 'onlyhere0']);
    rt.close();
    ns.close();
  });
});
