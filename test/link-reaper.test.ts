import * as assert from 'assert';
import { Netns, Rtnl } from '../src';
import { CNM_LINK_GROUP } from '../src/cnm/controller';
import { LinkReaper, REAPER_GROUP_FIRST, isReaperGroup } from '../src/cnm/link-reaper';
import { ipj, rejects, uniq } from './helpers';

const now = () => Number(process.hrtime.bigint()) / 1e6;

describe('link reaper (batched link removal)', function () {
  this.timeout(120000);
  let ns: Netns;
  let rt: Rtnl;
  /** Links that must outlive every test: name -> group. */
  const bystanders: Record<string, number> = { keep0: CNM_LINK_GROUP, keep0p: CNM_LINK_GROUP, keepd: 0, keepg: 5, keepbr: CNM_LINK_GROUP };

  const links = () => ipj(['link', 'show'], ns.name);
  const names = () => links().map((l: any) => l.ifname).filter((n: string) => n !== 'lo').sort();
  const groupOf = (l: any) => (l.group === 'default' ? 0 : Number(l.group));
  const addPairs = (prefix: string, n: number) => Promise.all(Array.from({ length: n }, (_, i) =>
    rt.link.add({ kind: 'veth', name: `${prefix}${i}`, numTxQueues: 1, numRxQueues: 1, peer: { name: `${prefix}${i}p`, numTxQueues: 1, numRxQueues: 1 } }, { echo: false })));
  /** Counts calls to one LinkApi method (the kernel still does the work). */
  const spy = (method: 'set' | 'delete' | 'deleteGroup' | 'list') => {
    const api: any = rt.link;
    const orig = api[method];
    const calls: any[][] = [];
    api[method] = function (...args: any[]) { calls.push(args); return orig.apply(this, args); };
    return { calls, restore: () => { api[method] = orig; } };
  };

  before(async () => {
    ns = await Netns.create(uniq('reap'), { rtnlSocket: true });
    rt = await Rtnl.open({ netns: ns });
    // Bystanders: CNM-tagged veth and bridge, plain and grouped bridges (no dummy module here).
    await rt.link.add({ kind: 'veth', name: 'keep0', group: CNM_LINK_GROUP, peer: { name: 'keep0p', group: CNM_LINK_GROUP } });
    await rt.link.add({ kind: 'bridge', name: 'keepd' });
    await rt.link.add({ kind: 'bridge', name: 'keepg', group: 5 });
    await rt.link.add({ kind: 'bridge', name: 'keepbr', group: CNM_LINK_GROUP });
  });
  after(async () => {
    rt.close();
    await ns.delete();
  });
  afterEach(() => {
    // Only the bystanders are left, in their own groups.
    const left = links().filter((l: any) => l.ifname !== 'lo');
    assert.deepStrictEqual(left.map((l: any) => [l.ifname, groupOf(l)]).sort(), Object.entries(bystanders).sort());
  });

  it('removes 1,000 veth pairs asked for all at once in one group deletion, far faster than one by one', async () => {
    const N = 1000;
    // The one-by-one cost on this machine now (it is shared: absolute times swing 3x).
    const S = 20;
    await addPairs('ro', S);
    let t = now();
    for (let i = 0; i < S; i++) await rt.link.delete(`ro${i}`);
    const oneByOne = ((now() - t) / S) * N;
    await addPairs('rv', N);
    assert.strictEqual(names().length, 2 * N + Object.keys(bystanders).length);
    const reaper = new LinkReaper(rt);
    t = now();
    await Promise.all(Array.from({ length: N }, (_, i) => reaper.remove(`rv${i}`)));
    const ms = now() - t;
    // Quiet, one RTM_DELLINK each takes ~37 s for 1,000 here, one by group ~0.5 s.
    assert.ok(ms < oneByOne / 5, `1,000 removals took ${ms.toFixed(0)} ms, one by one would take ~${oneByOne.toFixed(0)} ms`);
    assert.ok(ms < 15000, `1,000 removals took ${ms.toFixed(0)} ms`);
    assert.deepStrictEqual(reaper.stats, { single: 0, batches: 1, batched: N, fallbacks: 0 });
    assert.deepStrictEqual(names().filter((n: string) => n.startsWith('rv')), []);
  });

  it('batches removals that arrive while a batch is in the kernel, and keeps each caller apart', async () => {
    await addPairs('rw', 41);
    const reaper = new LinkReaper(rt);
    const first = reaper.remove('rw0');
    // Asked for in later turns of the loop, while rw0's deletion is in flight.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const rest: Promise<void>[] = [];
    for (let i = 1; i <= 40; i++) {
      rest.push(reaper.remove(`rw${i}`));
      if (i % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    await first;
    await Promise.all(rest);
    const s = reaper.stats;
    assert.strictEqual(s.single, 1);
    assert.strictEqual(s.batched, 40);
    assert.ok(s.batches >= 1 && s.batches <= 4, `batches: ${s.batches}`);
    assert.deepStrictEqual(names().filter((n: string) => n.startsWith('rw')), []);
  });

  it('a single removal is one RTM_DELLINK and resolves only once the link is gone', async () => {
    await addPairs('rs', 1);
    const reaper = new LinkReaper(rt);
    const sets = spy('set');
    const dels = spy('delete');
    try {
      await reaper.remove('rs0');
      // Read right after: already gone, peer too.
      assert.deepStrictEqual(names().filter((n: string) => n.startsWith('rs')), []);
      assert.strictEqual(sets.calls.length, 0, 'no group move for a lone removal');
      assert.deepStrictEqual(dels.calls, [['rs0']]);
      assert.deepStrictEqual(reaper.stats, { single: 1, batches: 0, batched: 0, fallbacks: 0 });
      // idle(): resolves once nothing is pending or in flight.
      await addPairs('rs', 2);
      const both = Promise.all([reaper.remove('rs0'), reaper.remove('rs1')]);
      await reaper.idle();
      assert.deepStrictEqual(names().filter((n: string) => n.startsWith('rs')), []);
      await both;
    } finally {
      sets.restore();
      dels.restore();
    }
  });

  it('counts a link that is already gone (ENODEV) as removed, alone and in a batch', async () => {
    const reaper = new LinkReaper(rt);
    await reaper.remove('nosuch0');
    await reaper.remove(999999);
    await addPairs('re', 3);
    const idx = (await rt.link.get('re1')).index;
    await Promise.all([reaper.remove('re0'), reaper.remove('nosuch1'), reaper.remove({ index: idx }), reaper.remove(999998), reaper.remove('re2p')]);
    // The peer of re2 was named: the pair goes either way.
    assert.deepStrictEqual(names().filter((n: string) => n.startsWith('re')), []);
    assert.strictEqual(reaper.stats.batches, 1);
    const r = await reaper.removeMany(['nosuch2', 'nosuch3']);
    assert.deepStrictEqual(r.map((x) => x.status), ['absent', 'absent']);
    assert.strictEqual(reaper.stats.batches, 1, 'nothing moved: no group deletion');
  });

  it('in a mixed batch only the link that cannot go fails; the others go, the failed one keeps its group', async () => {
    await addPairs('rm', 4);
    const reaper = new LinkReaper(rt);
    const lo = (await rt.link.get('lo'));
    const res = await Promise.allSettled([
      reaper.remove('rm0'), reaper.remove('lo'), reaper.remove('rm1'), reaper.remove('nosuch'), reaper.remove('rm2'),
      reaper.remove({ index: 0x7ffffff0 }), reaper.remove('rm3'),
    ]);
    assert.deepStrictEqual(res.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    const err = (res[1] as PromiseRejectedResult).reason;
    assert.strictEqual(err.code, 'EOPNOTSUPP');
    assert.strictEqual(err.errno, 95);
    assert.deepStrictEqual(names().filter((n: string) => n.startsWith('rm')), []);
    const loNow = ipj(['-d', 'link', 'show', 'dev', 'lo'], ns.name)[0];
    assert.strictEqual(groupOf(loNow), lo.group, 'lo is back in its group');
    assert.ok(loNow.flags.includes('UP') === lo.up);
    assert.strictEqual(reaper.stats.fallbacks, 1);
    // The reaper goes on batching after a fallback.
    await addPairs('rn', 3);
    await Promise.all([reaper.remove('rn0'), reaper.remove('rn1'), reaper.remove('rn2')]);
    assert.strictEqual(reaper.stats.fallbacks, 1);
    assert.deepStrictEqual(names().filter((n: string) => n.startsWith('rn')), []);
  });

  it('refuses bad refs with typed errors before sending anything', async () => {
    await addPairs('rb', 1);
    const reaper = new LinkReaper(rt);
    await rejects(reaper.remove('x'.repeat(16)), 'EINVAL');
    await rejects(reaper.remove(-3), 'EINVAL');
    await rejects(reaper.remove(1.5), 'EINVAL');
    await rejects(reaper.remove(null as any), 'ERR_INVALID_ARG_TYPE');
    await rejects(reaper.remove({} as any), 'ERR_INVALID_ARG_TYPE');
    await rejects(reaper.removeMany('rb0' as any), 'ERR_INVALID_ARG_TYPE');
    // One bad ref: nothing of the call is removed.
    await rejects(reaper.removeMany(['rb0', 'bad/name']), 'EINVAL');
    assert.ok(names().includes('rb0'));
    assert.throws(() => new LinkReaper(undefined as any), (e: any) => e.code === 'ERR_INVALID_ARG_TYPE');
    assert.throws(() => new LinkReaper(rt, { groups: { first: 0, count: 10 } }), (e: any) => e.code === 'EINVAL');
    assert.throws(() => new LinkReaper(rt, { groups: { first: 0xfffffff0, count: 100 } }), (e: any) => e.code === 'EINVAL');
    assert.throws(() => new LinkReaper(rt, { links: 'x' as any }), (e: any) => e.code === 'ERR_INVALID_ARG_TYPE');
    assert.deepStrictEqual(reaper.stats, { single: 0, batches: 0, batched: 0, fallbacks: 0 });
    await reaper.remove('rb0');
  });

  it('never uses a batch group some link is already in', async () => {
    const G = REAPER_GROUP_FIRST + 0x100;
    await rt.link.add({ kind: 'bridge', name: 'squat', group: G });
    try {
      // Two groups to choose from, one taken: every batch must use the other.
      const reaper = new LinkReaper(rt, { groups: { first: G, count: 2 } });
      for (let round = 0; round < 3; round++) {
        await addPairs('rg', 5);
        const r = await reaper.removeMany(Array.from({ length: 5 }, (_, i) => `rg${i}`));
        assert.deepStrictEqual(r.map((x) => x.status), Array(5).fill('removed'));
        assert.deepStrictEqual(names().filter((n: string) => n.startsWith('rg')), []);
        assert.strictEqual(groupOf(ipj(['link', 'show', 'dev', 'squat'], ns.name)[0]), G);
      }
      assert.strictEqual(reaper.stats.batches, 3);
      assert.ok(isReaperGroup(G) && !isReaperGroup(CNM_LINK_GROUP) && !isReaperGroup(0));
      // With the only group taken there is no batch group: each goes alone.
      const full = new LinkReaper(rt, { groups: { first: G, count: 1 } });
      await addPairs('rh', 2);
      await full.removeMany(['rh0', 'rh1']);
      assert.deepStrictEqual(names().filter((n: string) => n.startsWith('rh')), []);
      assert.ok(names().includes('squat'));
    } finally {
      await rt.link.delete('squat');
    }
  });

  it('removeMany: 300 leftovers (reconcile after a crash) go in one batch', async () => {
    const N = 300;
    await addPairs('rl', N);
    const listing = await rt.link.list();
    const reaper = new LinkReaper(rt, { links: listing });
    const lists = spy('list');
    try {
      const t = now();
      const r = await reaper.removeMany(listing.filter((l) => l.name.startsWith('rl') && !l.name.endsWith('p')));
      const ms = now() - t;
      assert.strictEqual(r.length, N);
      assert.ok(r.every((x) => x.status === 'removed'));
      assert.deepStrictEqual(reaper.stats, { single: 0, batches: 1, batched: N, fallbacks: 0 });
      assert.strictEqual(lists.calls.length, 0, 'the listing given was used');
      // One by one: ~5.7 s here.
      assert.ok(ms < 3000, `300 removals took ${ms.toFixed(0)} ms`);
      assert.deepStrictEqual(names().filter((n: string) => n.startsWith('rl')), []);
      await reaper.idle();
    } finally {
      lists.restore();
    }
  });
});
