// The overlay data path against the real kernel: three "hosts" (network
// namespaces on one underlay bridge), each with the overlay bridge and VXLAN
// device programmed from a peer set, and "containers" (more namespaces)
// on each host's overlay bridge pinging each other across hosts.
// Cross-checked with `ip -j`, `bridge -j` and an nft counter on UDP 4789.
import * as assert from 'assert';
import { spawn, ChildProcess } from 'child_process';
import * as path from 'path';
import { Netns, Rtnl } from '../src';
import { OverlayDatapath, OverlayPeer, PeerSync, bridgeMac, findUnderlay } from '../src/cnm/drivers/overlay';
import { ClusterStore, ClusterEndpoint } from '../src/cnm/cluster';
import { haveEtcd, startEtcd, EtcdCluster, until } from './etcd-helpers';
import { bridgej, ipj, ipLink, rejects, sh, uniq } from './helpers';
import { removeUnderlay, run, underlay } from './net-helpers';

const VNI = 4242;
const ping = async (ns: string, addr: string, deadlineS = 5) => (await run('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-i', '0.2', '-w', String(deadlineS), addr])).code === 0;

describe('overlay data path (VXLAN between namespaces)', function () {
  this.timeout(120000);
  const hostNames = [uniq('ovh'), uniq('ovh'), uniq('ovh')];
  const ctrNames = [uniq('ovc'), uniq('ovc'), uniq('ovc')];
  const underlayBr = uniq('ul');
  let hosts: Netns[] = [];
  let ctrs: Netns[] = [];
  let hrt: Rtnl[] = [];
  let top: Rtnl;
  const dps: OverlayDatapath[] = [];
  const vtep = (i: number) => `192.168.77.${11 + i}`;
  const peer = (i: number): OverlayPeer => ({ ip: `10.242.0.${2 + i}/24`, ipv6: `fd42::${2 + i}/64`, mac: `02:42:0a:f2:00:0${2 + i}`, vtep: vtep(i) });
  const peersFor = (h: number) => [0, 1, 2].filter((i) => i !== h).map(peer);

  before(async () => {
    top = await Rtnl.open();
    hosts = await Promise.all(hostNames.map((n) => Netns.create(n)));
    ctrs = await Promise.all(ctrNames.map((n) => Netns.create(n)));
    hrt.push(...await underlay(top, underlayBr, hosts, vtep));
  });

  after(async () => {
    for (const rt of hrt) rt.close();
    await removeUnderlay(top, underlayBr, hosts.length);
    for (const ns of [...ctrs, ...hosts]) await ns.delete().catch(() => undefined);
    top.close();
  });

  it('builds bridge + VXLAN (VNI, UDP 4789, nolearning, local, MTU 50 below the underlay) and rejects bad specs', async () => {
    for (const [i, rt] of hrt.entries()) {
      const dp = await OverlayDatapath.ensure(rt, { vni: VNI, subnet: '10.242.0.0/24', gateway: '10.242.0.1', subnet6: 'fd42::/64', gateway6: 'fd42::1', advertise: vtep(i), underlay: 'eth0' });
      dps.push(dp);
      assert.strictEqual(dp.mtu, 1450);
    }
    const vx = ipLink(`vx-${VNI}`, hostNames[0]);
    assert.strictEqual(vx.linkinfo.info_kind, 'vxlan');
    assert.strictEqual(vx.linkinfo.info_data.id, VNI);
    assert.strictEqual(vx.linkinfo.info_data.port, 4789);
    assert.strictEqual(vx.linkinfo.info_data.learning, false);
    assert.strictEqual(vx.linkinfo.info_data.local, vtep(0));
    assert.strictEqual(vx.linkinfo.info_data.link, 'eth0');
    assert.strictEqual(vx.mtu, 1450);
    assert.strictEqual(vx.master, `ov-${VNI}`);
    assert.strictEqual(vx.linkinfo.info_slave_data.learning, false);
    assert.strictEqual(vx.linkinfo.info_slave_data.neigh_suppress, true);
    const br = ipLink(`ov-${VNI}`, hostNames[0]);
    assert.strictEqual(br.mtu, 1450);
    const addrs = ipj(['addr', 'show', 'dev', `ov-${VNI}`], hostNames[0])[0].addr_info.map((a: any) => `${a.local}/${a.prefixlen}`);
    assert.ok(addrs.includes('10.242.0.1/24') && addrs.includes('fd42::1/64'), addrs.join(' '));

    // Again: adopted as it is.
    await OverlayDatapath.ensure(hrt[0], { vni: VNI, subnet: '10.242.0.0/24', gateway: '10.242.0.1', subnet6: 'fd42::/64', gateway6: 'fd42::1', advertise: vtep(0), underlay: 'eth0' });
    // The same names with other settings: EEXIST, nothing touched.
    await rejects(OverlayDatapath.ensure(hrt[0], { vni: VNI + 1, vxlanName: `vx-${VNI}`, bridgeName: `ov-${VNI}`, subnet: '10.243.0.0/24', gateway: '10.243.0.1', advertise: vtep(0), underlay: 'eth0' }), 'EEXIST', /VNI 4242/);
    await rejects(OverlayDatapath.ensure(hrt[0], { vni: VNI, advertise: '192.168.77.99', subnet: '10.242.0.0/24', gateway: '10.242.0.1', underlay: 'eth0' }), 'EEXIST', /local/);
    await rejects(OverlayDatapath.ensure(hrt[0], { vni: 0, subnet: '10.9.0.0/24', gateway: '10.9.0.1', advertise: vtep(0), underlay: 'eth0' }), 'EINVAL');
    await rejects(OverlayDatapath.ensure(hrt[0], { vni: 5000, subnet: '10.9.0.0', gateway: '10.9.0.1', advertise: vtep(0), underlay: 'eth0' }), 'EINVAL');
    await rejects(OverlayDatapath.ensure(hrt[0], { vni: 5000, subnet: '10.9.0.0/24', gateway: 'x', advertise: vtep(0), underlay: 'eth0' }), 'EINVAL');
    await rejects(OverlayDatapath.ensure(hrt[0], { vni: 5000, subnet: '10.9.0.0/24', gateway: '10.9.0.1', advertise: vtep(0), underlay: 'eth0', bridgeName: 'much-too-long-name' }), 'EINVAL');
    await rejects(OverlayDatapath.ensure(hrt[0], { vni: 5000, subnet: '10.9.0.0/24', gateway: '10.9.0.1', advertise: vtep(0), underlay: 'nope0' }), 'ENODEV');
    await rejects(OverlayDatapath.ensure(hrt[0], { vni: 5000, subnet: '10.9.0.0/24', gateway: '10.9.0.1', advertise: vtep(0), underlay: 'eth0', colour: 1 } as never), 'EINVAL');
    assert.deepStrictEqual(ipj(['link', 'show'], hostNames[0]).map((l: any) => l.ifname).sort(), ['eth0', 'lo', `ov-${VNI}`, `vx-${VNI}`].sort(), 'no residue of the refused specs');
    // The advertise address names the underlay device (dockerd's --cluster-advertise check).
    assert.strictEqual((await findUnderlay(hrt[1], vtep(1))).name, 'eth0');
    await rejects(findUnderlay(hrt[1], vtep(0)), 'EINVAL', /not an address of this host/);
  });

  it('containers on three hosts ping each other across hosts (IPv4 and IPv6) through VXLAN on UDP 4789', async () => {
    for (const [i, ns] of ctrs.entries()) {
      const rt = hrt[i];
      const p = peer(i);
      await rt.link.add({ kind: 'veth', name: 'vc0', ...dps[i].portSettings(), peer: { name: 'eth0', netns: ns, address: p.mac, mtu: dps[i].mtu } });
      await rt.link.set('vc0', { up: true });
      const c = await Rtnl.open({ netns: ns });
      await c.addr.add('eth0', p.ip);
      await c.addr.add('eth0', { address: p.ipv6!, flags: ['nodad'] });
      await c.link.set('eth0', { up: true });
      await c.route.add({ dst: 'default', gateway: '10.242.0.1' });
      c.close();
    }
    // Before any peer is programmed: nothing crosses (no flooding, no learning).
    assert.ok(!(await ping(ctrNames[0], '10.242.0.3', 1)), 'no peer table, no traffic');
    for (const [i, dp] of dps.entries()) await dp.resync(peersFor(i));
    // Count VXLAN packets leaving and entering host 0 with nft.
    sh('nft', ['-f', '-'], { ns: hostNames[0], input: 'table inet vxc {\n chain o { type filter hook output priority 0; udp dport 4789 counter; }\n chain i { type filter hook input priority 0; udp dport 4789 counter; }\n}\n' });
    const tx0 = (await hrt[0].link.get(`vx-${VNI}`)).stats.txPackets;

    assert.ok(await ping(ctrNames[0], '10.242.0.3'), 'c0 (host 0) -> c1 (host 1)');
    assert.ok(await ping(ctrNames[0], '10.242.0.4'), 'c0 (host 0) -> c2 (host 2)');
    assert.ok(await ping(ctrNames[2], '10.242.0.3'), 'c2 (host 2) -> c1 (host 1)');
    assert.ok(await ping(ctrNames[1], 'fd42::2'), 'c1 -> c0 over IPv6');

    const counters = JSON.parse(sh('nft', ['-j', 'list', 'table', 'inet', 'vxc'], { ns: hostNames[0] })).nftables
      .filter((o: any) => o.rule).map((o: any) => o.rule.expr.find((e: any) => e.counter).counter.packets);
    assert.ok(counters[0] >= 2 && counters[1] >= 2, `UDP 4789 out/in on host 0: ${counters}`);
    assert.ok((await hrt[0].link.get(`vx-${VNI}`)).stats.txPackets > tx0, 'vxlan device counted the packets');

    // ARP answered by the bridge from the peer table; the gateway is each host's own.
    const n = ipj(['neigh', 'show', 'dev', 'eth0'], ctrNames[0]);
    assert.strictEqual(n.find((x: any) => x.dst === '10.242.0.3')?.lladdr, peer(1).mac);
    assert.ok(await ping(ctrNames[0], '10.242.0.1'), 'gateway');
    const brMac = ipLink(`ov-${VNI}`, hostNames[0]).address;
    assert.strictEqual(brMac, bridgeMac(vtep(0), VNI), 'the bridge keeps its own MAC (not its lowest port\'s)');
    assert.strictEqual(ipj(['neigh', 'show', 'dev', 'eth0'], ctrNames[0]).find((x: any) => x.dst === '10.242.0.1')?.lladdr, brMac);

    // The kernel's tables, read by iproute2.
    const neigh = ipj(['neigh', 'show', 'dev', `ov-${VNI}`, 'nud', 'permanent'], hostNames[0]).map((x: any) => `${x.dst} ${x.lladdr}`).sort();
    assert.deepStrictEqual(neigh, ['10.242.0.3 02:42:0a:f2:00:03', '10.242.0.4 02:42:0a:f2:00:04', 'fd42::3 02:42:0a:f2:00:03', 'fd42::4 02:42:0a:f2:00:04']);
    const fdb = bridgej(['fdb', 'show', 'dev', `vx-${VNI}`], hostNames[0]);
    const self = fdb.filter((f: any) => f.flags?.includes('self') && f.dst).map((f: any) => `${f.mac} ${f.dst} ${f.state}`).sort();
    assert.deepStrictEqual(self, [`02:42:0a:f2:00:03 ${vtep(1)} permanent`, `02:42:0a:f2:00:04 ${vtep(2)} permanent`]);
    assert.ok(!fdb.some((f: any) => f.mac === '00:00:00:00:00:00'), 'no flood entry');
    assert.deepStrictEqual((await dps[0].listPeers()).map((p) => p.mac).sort(), ['02:42:0a:f2:00:03', '02:42:0a:f2:00:04']);
  });

  it('removing a peer stops its traffic; add and remove are idempotent', async () => {
    await dps[0].removePeer(peer(1));
    await dps[0].removePeer(peer(1)); // again: fine
    assert.ok(!(await ping(ctrNames[0], '10.242.0.3', 1)), 'c0 -> c1 after the peer was removed');
    assert.ok(await ping(ctrNames[0], '10.242.0.4'), 'c0 -> c2 unaffected');
    assert.ok(!ipj(['neigh', 'show', 'dev', `ov-${VNI}`], hostNames[0]).some((x: any) => x.dst === '10.242.0.3'));
    await dps[0].addPeer(peer(1));
    await dps[0].addPeer(peer(1)); // again: fine
    assert.ok(await ping(ctrNames[0], '10.242.0.3'), 'c0 -> c1 once it is back');
    await rejects(dps[0].addPeer({ ...peer(1), mac: 'nope' }), 'EINVAL');
    await rejects(dps[0].addPeer({ ...peer(1), vtep: '1.2.3' }), 'EINVAL');
    await rejects(dps[0].addPeer({ ...peer(1), ip: 'fd00::1' }), 'EINVAL');
  });

  it('resync makes the kernel equal the peer set: stale entries removed, missing ones restored', async () => {
    const stale: OverlayPeer = { ip: '10.242.0.99', mac: '02:42:0a:f2:00:63', vtep: '192.168.77.99' };
    await dps[0].addPeer(stale);
    // Something removes an entry behind our back.
    sh('bridge', ['fdb', 'del', peer(2).mac, 'dev', `vx-${VNI}`, 'self'], { ns: hostNames[0] });
    assert.ok(!(await ping(ctrNames[0], '10.242.0.4', 1)));
    const r = await dps[0].resync(peersFor(0));
    assert.deepStrictEqual(r, { added: 1, removed: 1 });
    const fdb = bridgej(['fdb', 'show', 'dev', `vx-${VNI}`], hostNames[0]);
    assert.ok(!fdb.some((f: any) => f.mac === stale.mac), 'stale FDB entries gone');
    assert.ok(!ipj(['neigh', 'show', 'dev', `ov-${VNI}`], hostNames[0]).some((x: any) => x.dst === stale.ip), 'stale neighbour gone');
    assert.ok(await ping(ctrNames[0], '10.242.0.4'), 'restored entry carries traffic');
    assert.deepStrictEqual(await dps[0].resync(peersFor(0)), { added: 0, removed: 0 }, 'a second resync has nothing to do');
    // A peer moving to another host (new VTEP): replaced.
    await dps[0].resync([peer(1), { ...peer(2), vtep: vtep(1) }]);
    const moved = bridgej(['fdb', 'show', 'dev', `vx-${VNI}`], hostNames[0]).filter((f: any) => f.mac === peer(2).mac && f.dst);
    assert.deepStrictEqual(moved.map((f: any) => f.dst), [vtep(1)]);
    await dps[0].resync(peersFor(0));
    await rejects(dps[0].resync([peer(1), peer(1)]), 'EINVAL', /twice/);
  });

  it('destroy removes both devices', async () => {
    await dps[2].destroy();
    await dps[2].destroy();
    assert.deepStrictEqual(ipj(['link', 'show'], hostNames[2]).map((l: any) => l.ifname).sort(), ['eth0', 'lo', 'vc0'].sort());
  });
});

describe('overlay: the cluster store in etcd driving the data path', function () {
  this.timeout(120000);
  const hostNames = [uniq('ovh'), uniq('ovh'), uniq('ovh')];
  const ctrNames = [uniq('ovc'), uniq('ovc'), uniq('ovc')];
  const underlayBr = uniq('ul');
  const vtep = (i: number) => `192.168.78.${11 + i}`;
  let etcd: EtcdCluster;
  let top: Rtnl;
  let hosts: Netns[] = [];
  let ctrs: Netns[] = [];
  const hrt: Rtnl[] = [];
  const stores: ClusterStore[] = [];
  const syncs: PeerSync[] = [];

  before(async function () {
    if (!haveEtcd()) this.skip();
    etcd = await startEtcd({ basePort: 23990 });
    top = await Rtnl.open();
    hosts = await Promise.all(hostNames.map((n) => Netns.create(n)));
    ctrs = await Promise.all(ctrNames.map((n) => Netns.create(n)));
    hrt.push(...await underlay(top, underlayBr, hosts, vtep));
  });

  after(async () => {
    for (const s of syncs) s.stop();
    await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
    for (const rt of hrt) rt.close();
    if (top) {
      await removeUnderlay(top, underlayBr, hosts.length);
      top.close();
    }
    for (const ns of [...ctrs, ...hosts]) await ns.delete().catch(() => undefined);
    if (etcd) await etcd.destroy();
  });

  it('endpoints registered on one host are reachable from the others; a dead host\'s entries go within 15 s', async () => {
    for (let i = 0; i < 3; i++) stores.push(await ClusterStore.connect({ store: etcd.store, advertise: vtep(i), hostId: `host${i}`, prefix: '/e2e/' }));
    const nw = await stores[0].createNetwork({ name: 'ov', subnet: '10.244.0.0/24' });
    await until(() => stores.every((s) => !!s.network('ov')), 5000, 'network on every host');
    for (const [i, rt] of hrt.entries()) {
      const dp = await OverlayDatapath.ensure(rt, { vni: nw.vni, subnet: nw.subnet, gateway: nw.gateway, advertise: vtep(i), underlay: 'eth0' });
      const sync = new PeerSync(stores[i], dp, 'ov');
      sync.on('error', (e) => assert.fail(e));
      await sync.start();
      syncs.push(sync);
    }
    // One container per host: the address and MAC come from the cluster store.
    const eps = await Promise.all(stores.map((s, i) => s.createEndpoint({ network: 'ov', name: `c${i}` })));
    const t0 = Date.now();
    await until(() => syncs.every((s) => s.applied >= 3), 5000, 'peers programmed from the watch'); // 1 resync + 2 adds each
    await Promise.all(syncs.map((s) => s.idle()));
    console.log(`      converged ${Date.now() - t0} ms after the last registration`);
    for (const [i, ep] of eps.entries()) {
      await hrt[i].link.add({ kind: 'veth', name: 'vc0', master: `ov-${nw.vni}`, mtu: 1450, peer: { name: 'eth0', netns: ctrs[i], address: ep.mac, mtu: 1450 } });
      await hrt[i].link.set('vc0', { up: true });
      const c = await Rtnl.open({ netns: ctrs[i] });
      await c.addr.add('eth0', ep.ipv4);
      await c.link.set('eth0', { up: true });
      c.close();
    }
    const ip = (i: number) => eps[i].ipv4.split('/')[0];
    assert.ok(await ping(ctrNames[0], ip(1)), 'c0 -> c1');
    assert.ok(await ping(ctrNames[1], ip(2)), 'c1 -> c2');
    assert.ok(await ping(ctrNames[2], ip(0)), 'c2 -> c0');
    const fdb = bridgej(['fdb', 'show', 'dev', `vx-${nw.vni}`], hostNames[0]).filter((f: any) => f.dst).map((f: any) => `${f.mac} ${f.dst}`).sort();
    assert.deepStrictEqual(fdb, [`${eps[1].mac} ${vtep(1)}`, `${eps[2].mac} ${vtep(2)}`].sort());

    // Host 2 "crashes": its client goes away without revoking the lease.
    await stores[2].close({ revoke: false });
    const t1 = Date.now();
    await until(() => !bridgej(['fdb', 'show', 'dev', `vx-${nw.vni}`], hostNames[0]).some((f: any) => f.mac === eps[2].mac), 15000, "host 2's FDB entry removed on host 0");
    await until(() => !ipj(['neigh', 'show', 'dev', `ov-${nw.vni}`], hostNames[1]).some((x: any) => x.dst === ip(2)), 2000, "host 2's neighbour removed on host 1");
    console.log(`      dead host's peers removed ${Date.now() - t1} ms after its client died (lease TTL 10 s)`);
    assert.ok(!(await ping(ctrNames[0], ip(2), 1)), 'c0 -> c2 no longer');
    assert.ok(await ping(ctrNames[0], ip(1)), 'c0 -> c1 still');
  });
});

describe('overlay: three hosts as three processes (nsenter into each host namespace), etcd on the underlay', function () {
  this.timeout(120000);
  const hostNames = [uniq('ovp'), uniq('ovp'), uniq('ovp')];
  const ctrNames = [uniq('ovq'), uniq('ovq'), uniq('ovq')];
  const underlayBr = uniq('ul');
  const vtep = (i: number) => `192.168.79.${11 + i}`;
  let etcd: EtcdCluster;
  let top: Rtnl;
  let hosts: Netns[] = [];
  let admin: ClusterStore | undefined;
  const agents: ChildProcess[] = [];

  before(async function () {
    if (!haveEtcd()) this.skip();
    top = await Rtnl.open();
    hosts = await Promise.all(hostNames.map((n) => Netns.create(n)));
    for (const rt of await underlay(top, underlayBr, hosts, vtep, '192.168.79.1')) rt.close();
    // etcd listens on the test's underlay address only.
    etcd = await startEtcd({ host: '192.168.79.1', basePort: 24090 });
  });

  after(async () => {
    await Promise.all(agents.map((p) => new Promise<void>((r) => {
      if (p.exitCode !== null || p.signalCode !== null) return r();
      p.once('exit', () => r());
      p.kill('SIGTERM');
      setTimeout(() => p.kill('SIGKILL'), 10000).unref();
    })));
    if (admin) await admin.close().catch(() => undefined);
    for (const n of ctrNames) await Netns.open(n).then((ns) => ns.delete(), () => undefined);
    if (top) {
      await removeUnderlay(top, underlayBr, hosts.length);
      top.close();
    }
    for (const ns of hosts) await ns.delete().catch(() => undefined);
    if (etcd) await etcd.destroy();
  });

  it('containers ping across hosts; kill -9 of one host: the others drop its peers within 15 s; etcd stopped: existing traffic flows', async () => {
    admin = await ClusterStore.connect({ store: etcd.store, advertise: '192.168.79.1', hostId: 'admin', prefix: '/proc/' });
    const nw = await admin.createNetwork({ name: 'ov', subnet: '10.245.0.0/24' });
    const agentJs = path.join(__dirname, 'overlay-agent.js');
    const eps: ClusterEndpoint[] = await Promise.all(hostNames.map((h, i) => new Promise<ClusterEndpoint>((resolve, reject) => {
      const args = { store: etcd.store, hostId: `host${i}`, advertise: vtep(i), prefix: '/proc/', network: 'ov', ctr: ctrNames[i], name: `c${i}` };
      const p = spawn('nsenter', [`--net=/run/netns/${h}`, process.execPath, agentJs, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] });
      agents.push(p);
      let out = '';
      p.stdout!.on('data', (d) => {
        out += d;
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(JSON.parse(line).ready);
      });
      p.once('exit', (code) => reject(new Error(`agent ${h} exited ${code}`)));
    })));
    const t0 = Date.now();
    const remoteMacs = (h: number) => bridgej(['fdb', 'show', 'dev', `vx-${nw.vni}`], hostNames[h]).filter((f: any) => f.dst).map((f: any) => f.mac).sort();
    for (let h = 0; h < 3; h++) {
      const want = eps.filter((_, i) => i !== h).map((e) => e.mac).sort();
      await until(() => JSON.stringify(remoteMacs(h)) === JSON.stringify(want), 10000, `peers on host ${h}`);
    }
    console.log(`      every host has every remote peer ${Date.now() - t0} ms after the last agent was ready`);
    const ip = (i: number) => eps[i].ipv4.split('/')[0];
    assert.strictEqual(new Set(eps.map((e) => e.ipv4)).size, 3);
    assert.ok(await ping(ctrNames[0], ip(1)), 'c0 -> c1');
    assert.ok(await ping(ctrNames[1], ip(2)), 'c1 -> c2');
    assert.ok(await ping(ctrNames[2], ip(0)), 'c2 -> c0');

    // etcd stops: the data path does not depend on it.
    await etcd.members[0].stop();
    assert.ok(await ping(ctrNames[0], ip(1)), 'c0 -> c1 with etcd down');
    await rejects(admin.createNetwork({ name: 'ov2' }), 'ENOTCONN');
    await etcd.members[0].start();

    // Host 2's controller dies.
    const t1 = Date.now();
    agents[2].kill('SIGKILL');
    for (const h of [0, 1]) await until(() => !remoteMacs(h).includes(eps[2].mac), 15000 - (Date.now() - t1), `host 2's peer gone from host ${h}`);
    console.log(`      peers of the killed host removed everywhere ${Date.now() - t1} ms after kill -9`);
    assert.ok(!(await ping(ctrNames[0], ip(2), 1)), 'c0 -> c2 no longer');
    assert.ok(await ping(ctrNames[0], ip(1)), 'c0 -> c1 still');
  });
});
