// bench/reaper: N veth pairs (peers in N namespaces, as containers' are)
// removed all in flight one RTM_DELLINK each (what leave does today; sampled
// on M and extrapolated) and through LinkReaper (one group deletion), and a
// reconcile-like removeMany of R leftovers. Run inside a throwaway namespace:
// `npm run build && bash scripts/isolated.sh node dist/bench/reaper.js [N [M [R]]]`.
import { Netns, Rtnl } from '../src';
import { LinkReaper } from '../src/cnm/link-reaper';

const N = Number(process.argv[2] ?? 1000);
const M = Number(process.argv[3] ?? 100);
const R = Number(process.argv[4] ?? 300);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const progress = (m: string) => process.stderr.write(`  .. ${m}\n`);

async function pairs(rt: Rtnl, prefix: string, n: number): Promise<{ names: string[]; close: () => Promise<void> }> {
  const nss = await Promise.all(Array.from({ length: n }, () => Netns.create(undefined, { rtnlSocket: false })));
  await Promise.all(nss.map((ns, i) => rt.link.add({ kind: 'veth', name: `${prefix}${i}`, numTxQueues: 1, numRxQueues: 1,
    peer: { name: 'eth0', netns: ns, numTxQueues: 1, numRxQueues: 1 } }, { echo: false })));
  return { names: nss.map((_, i) => `${prefix}${i}`), close: async () => { for (const ns of nss) ns.close(); } };
}

async function main(): Promise<void> {
  if (!process.env.CNM_ISOLATED) {
    console.error('run through scripts/isolated.sh (a fresh namespace)');
    process.exit(2);
  }
  const rt = await Rtnl.open();
  progress(`one RTM_DELLINK each: ${M} pairs, all in flight`);
  let p = await pairs(rt, 'ob', M);
  let t = now();
  await Promise.all(p.names.map((n) => rt.link.delete(n)));
  const one = ((now() - t) / M) * N;
  await p.close();
  progress(`LinkReaper: ${N} pairs, all in flight`);
  p = await pairs(rt, 'rp', N);
  const reaper = new LinkReaper(rt, { links: await rt.link.list() });
  t = now();
  await Promise.all(p.names.map((n) => reaper.remove(n)));
  const batched = now() - t;
  const s1 = reaper.stats;
  await p.close();
  progress(`LinkReaper.removeMany: ${R} leftovers`);
  p = await pairs(rt, 'rm', R);
  t = now();
  const res = await reaper.removeMany(p.names);
  const many = now() - t;
  await p.close();
  if (res.some((r) => r.status !== 'removed')) throw new Error('removeMany left some');
  if ((await rt.link.list({ kind: 'veth' })).length) throw new Error('veths left');
  rt.close();
  const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
  console.log(`\n${N} veth pairs, peers in their own namespaces:`);
  console.log(`  one RTM_DELLINK each, all in flight: ${fmt(one)} (extrapolated from ${M})`);
  console.log(`  LinkReaper, all in flight:           ${fmt(batched)} (${s1.batches} group deletion(s), ${s1.single} alone; ${(one / batched).toFixed(0)}x faster)`);
  console.log(`  removeMany of ${R} leftovers:          ${fmt(many)} (one by one: ~${fmt((one / N) * R)})`);
}

main().catch((e) => { console.error(e); process.exit(1); });
