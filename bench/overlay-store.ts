// etcd requests and latency per overlay endpoint registration (not a test).
//   npm run build && bash scripts/isolated.sh node dist/bench/overlay-store.js [HOSTS] [ENDPOINTS_PER_HOST]
// Starts its own etcd on loopback (data in a temp dir), opens one
// ClusterStore per "host" in this process, then measures:
//  - lone joins, one after another on one host: latency and requests each;
//  - every host joining its endpoints at once: wall time, requests per join,
//    lost races (transactions retried);
//  - convergence: from the last join returning until every host's watch has
//    delivered every endpoint;
//  - leaves: latency and requests each;
//  - with the data path (one network namespace per host on an underlay
//    bridge, PeerSync following the store): from the last join returning
//    until every host's kernel has every remote peer programmed.
import { Netns, Rtnl } from '../src';
import { ClusterStore } from '../src/cnm/cluster';
import { OverlayDatapath, PeerSync } from '../src/cnm/drivers/overlay';
import { startEtcd } from '../test/etcd-helpers';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (n: number) => `${n.toFixed(2)} ms`;

async function main() {
  const hosts = Number(process.argv[2] ?? 3);
  const per = Number(process.argv[3] ?? 300);
  const etcd = await startEtcd({ basePort: 24790 });
  const stores: ClusterStore[] = [];
  let cleanup = async () => undefined as void;
  try {
    for (let i = 0; i < hosts; i++) stores.push(await ClusterStore.connect({ store: etcd.store, advertise: `192.0.2.${i + 1}`, hostId: `bench${i}`, prefix: '/bench/' }));
    await stores[0].createNetwork({ name: 'b', subnet: '10.128.0.0/14' });
    const until = async (pred: () => boolean) => {
      while (!pred()) await new Promise((r) => setImmediate(r));
    };
    await until(() => stores.every((s) => !!s.network('b')));
    const nw = stores[0].network('b')!;

    // Host namespaces with the data path, following the store from now on.
    const top = await Rtnl.open();
    await top.link.add({ kind: 'bridge', name: 'benchul', bridge: { stp: false } });
    await top.link.set('benchul', { up: true });
    const nss: Netns[] = [];
    const rts: Rtnl[] = [];
    const syncs: PeerSync[] = [];
    for (let i = 0; i < hosts; i++) {
      const ns = await Netns.create(`benchov${i}`);
      nss.push(ns);
      await top.link.add({ kind: 'veth', name: `benchul${i}`, master: 'benchul', peer: { name: 'eth0', netns: ns } });
      await top.link.set(`benchul${i}`, { up: true });
      const rt = await Rtnl.open({ netns: ns });
      rts.push(rt);
      await rt.addr.add('eth0', `192.0.2.${i + 1}/24`);
      await rt.link.set('eth0', { up: true });
      const dp = await OverlayDatapath.ensure(rt, { vni: nw.vni, subnet: nw.subnet, gateway: nw.gateway, advertise: `192.0.2.${i + 1}`, underlay: 'eth0' });
      const sync = new PeerSync(stores[i], dp, 'b');
      await sync.start();
      syncs.push(sync);
    }
    cleanup = async () => {
      for (const s of syncs) s.stop();
      for (const rt of rts) rt.close();
      for (let i = 0; i < hosts; i++) await top.link.delete(`benchul${i}`).catch(() => undefined);
      await top.link.delete('benchul').catch(() => undefined);
      for (const ns of nss) await ns.delete();
      top.close();
    };

    // Lone joins.
    const lone: number[] = [];
    const r0 = stores[0].stats.requests;
    for (let j = 0; j < 100; j++) {
      const t = process.hrtime.bigint();
      await stores[0].createEndpoint({ network: 'b', name: `lone${j}` });
      lone.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const loneReq = (stores[0].stats.requests - r0) / 100;
    console.log(`lone join (100, sequential): p50 ${ms(pct(lone, 50))}, p99 ${ms(pct(lone, 99))}, etcd requests per join ${loneReq.toFixed(2)}`);

    // Burst from every host.
    const before = stores.map((s) => ({ req: s.stats.requests, conflicts: s.stats.conflicts }));
    const t0 = process.hrtime.bigint();
    await Promise.all(stores.map((s, i) => Promise.all(Array.from({ length: per }, (_, j) => s.createEndpoint({ network: 'b', name: `h${i}e${j}` })))));
    const t1 = process.hrtime.bigint();
    const total = hosts * per + 100;
    await until(() => stores.every((s) => s.endpoints({ network: 'b' }).length === total));
    const t2 = process.hrtime.bigint();
    const req = stores.reduce((n, s, i) => n + s.stats.requests - before[i].req, 0);
    const lost = stores.reduce((n, s, i) => n + s.stats.conflicts - before[i].conflicts, 0);
    const wall = Number(t1 - t0) / 1e6;
    console.log(`burst ${hosts} hosts x ${per} joins at once: ${ms(wall)} (${ms(wall / (hosts * per))} per join), etcd requests per join ${(req / (hosts * per)).toFixed(3)}, lost races ${lost}`);
    console.log(`convergence (last join returned -> every host's watch has every endpoint): ${ms(Number(t2 - t1) / 1e6)}`);
    await Promise.all(syncs.map((s) => s.idle()));
    const t3 = process.hrtime.bigint();
    const fdb = await Promise.all(rts.map((rt) => rt.neigh.fdbList({ link: `vx-${nw.vni}` })));
    const programmed = fdb.map((f) => f.filter((e) => e.dst && e.flags.includes('self')).length);
    console.log(`convergence into the kernel (last join returned -> every host's peer table complete): ${ms(Number(t3 - t1) / 1e6)}; remote peers per host ${programmed.join(', ')} (want ${total - per} or ${total - per - 100})`);
    const addrs = new Set(stores.flatMap((s) => s.endpoints({ network: 'b' }).map((e) => e.ipv4)));
    console.log(`distinct addresses: ${addrs.size} of ${total}`);

    // Leaves.
    const leave: number[] = [];
    const r1 = stores[0].stats.requests;
    for (let j = 0; j < 100; j++) {
      const t = process.hrtime.bigint();
      await stores[0].deleteEndpoint('b', `lone${j}`);
      leave.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    console.log(`leave (100, sequential): p50 ${ms(pct(leave, 50))}, p99 ${ms(pct(leave, 99))}, etcd requests per leave ${((stores[0].stats.requests - r1) / 100).toFixed(2)}`);
    console.log(`watches created per host: ${stores.map((s) => s.stats.watchesCreated).join(', ')} (one each, from the connect; plus lease keep-alives, not counted)`);
  } finally {
    await cleanup();
    await Promise.all(stores.map((s) => s.close()));
    await etcd.destroy();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
