// The overlay driver end to end: three hosts (network namespaces on one
// underlay bridge), each running its own Controller with `cluster` in its
// own Node process (entered with nsenter, so /run/netns stays shared), one
// etcd started by the test on its underlay address. Cross-checked with
// `ip -j`, `bridge -j` and nft counters.
import * as assert from 'assert';
import { spawn, ChildProcess } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Etcd3 } from 'etcd3';
import { Controller, Netns, Rtnl } from '../src';
import { parseStoreUrl } from '../src/cnm/cluster';
import { haveEtcd, startEtcd, EtcdCluster, until, sleep } from './etcd-helpers';
import { bridgej, ipj, rejects, sh, uniq } from './helpers';
import { removeUnderlay, run, tcpGet, tcpServer, underlay } from './net-helpers';

const ping = async (ns: string, addr: string, deadlineS = 5) => (await run('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-i', '0.2', '-w', String(deadlineS), addr])).code === 0;

/** `dig` through the container's own resolver at 127.0.0.11: the answer section ("A 10.0.0.2"), and the status. */
async function dig(ns: string, ...q: string[]): Promise<{ status: string; answers: string[] }> {
  const r = await run('ip', ['netns', 'exec', ns, 'dig', '+time=2', '+tries=2', '@127.0.0.11', ...q]);
  const status = /status: (\w+)/.exec(r.out)?.[1] ?? `dig failed: ${r.err}${r.out}`;
  const answers = r.out.split('\n').filter((l) => l && !l.startsWith(';')).map((l) => l.split(/\s+/)).filter((f) => f.length >= 5).map((f) => `${f[3]} ${f[4]}`);
  return { status, answers };
}

/** An HTTP/1.0 server in `ns` answering "hello CLIENT-ADDRESS" (after reading the request: a close with unread data would reset). */
async function httpServer(ns: Netns | null, address: string, port: number): Promise<net.Server> {
  const srv = net.createServer((c) => c.once('data', () => c.end(`HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ${c.remoteAddress}`)));
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    if (ns) srv.listen({ fd: ns.socket(4, 'tcp', { address, port }) }, resolve);
    else srv.listen(port, address, resolve);
  });
  return srv;
}

/** `curl` inside a container's namespace: names resolve through its resolv.conf (127.0.0.11), as any program's there. */
async function curl(ns: string, url: string): Promise<string> {
  const r = await run('ip', ['netns', 'exec', ns, 'curl', '-sS', '--max-time', '10', url]);
  if (r.code !== 0) throw new Error(`curl ${url} in ${ns}: exit ${r.code}: ${r.err}`);
  return r.out;
}

interface Agent { proc: ChildProcess; call<T = any>(op: string, args?: unknown): Promise<T> }

function startAgent(host: string, args: object): Promise<Agent> {
  const js = path.join(__dirname, 'overlay-ctl-agent.js');
  const proc = spawn('nsenter', [`--net=/run/netns/${host}`, process.execPath, js, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = new Map<number, { resolve: (v: any) => void; reject: (e: any) => void }>();
  let next = 1;
  let buf = '';
  return new Promise((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.startsWith('{')) continue;
        const m = JSON.parse(line);
        if (m.ready) resolve(agent);
        else if (m.fatal) reject(Object.assign(new Error(m.fatal.message), { code: m.fatal.code }));
        else {
          const w = waiting.get(m.id);
          waiting.delete(m.id);
          if (m.error) w?.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
          else w?.resolve(m.ok);
        }
      }
    });
    proc.once('exit', (code) => {
      reject(new Error(`agent on ${host} exited ${code}`));
      for (const w of waiting.values()) w.reject(new Error(`agent on ${host} exited ${code}`));
    });
    const agent: Agent = {
      proc,
      call(op, a) {
        const id = next++;
        return new Promise((res, rej) => {
          waiting.set(id, { resolve: res, reject: rej });
          proc.stdin!.write(JSON.stringify({ id, op, args: a }) + '\n');
        });
      },
    };
  });
}

describe('overlay driver: three controllers in three host processes, cluster state in etcd', function () {
  this.timeout(180000);
  const hostNames = [uniq('ovx'), uniq('ovx'), uniq('ovx')];
  const underlayBr = uniq('ul');
  const vtep = (i: number) => `192.168.81.${11 + i}`;
  const TOP = '192.168.81.1';
  let etcd: EtcdCluster;
  let top: Rtnl;
  let hosts: Netns[] = [];
  const agents: Agent[] = [];
  const dirs: string[] = [];
  const sandboxNs: string[] = [];
  let lb: { ip: string; mac: string; netns: string; sb: string };
  // Leases of 3 s (kill -9 of host 2 is seen soon), but host 1's is the default 10 s: its restart must fit in it on a loaded machine.
  const agentArgs = (i: number) => ({ stateDir: dirs[i], store: etcd.store, advertise: vtep(i), prefix: '/ovt/', dns: true, ...(i === 1 ? { leaseTtl: 10 } : {}) });
  const c: { ip: string; mac: string; netns: string; sb: string }[] = [];
  const c2Id = crypto.randomBytes(32).toString('hex');
  const nsName = (p: string) => path.basename(p);
  // Containers' namespaces are the test's, adopted by key: /run/netns is shared
  // by the three "hosts" here, and a controller's reconcile removes the
  // cnm-* namespaces it does not know (on real hosts, only its own).
  // `ip netns exec` takes the container's resolv.conf (127.0.0.11) and hosts
  // from /etc/netns/NAME (a tmpfs in isolated.sh), as for the controller's own namespaces.
  async function container(h: number, net: string, name: string, o: { id?: string; sbName?: string; hostname?: string; aliases?: string[]; ports?: string[] } = {}): Promise<{ ip: string; mac: string; netns: string; sb: string }> {
    const ns = uniq('ovk');
    (await Netns.create(ns)).close();
    sandboxNs.push(ns);
    const sb = o.id ?? `${name}-${uniq('s')}`;
    const { id: _id, ...rest } = o;
    const r = await agents[h].call('run', { sb, net, name, key: `/run/netns/${ns}`, ...rest });
    fs.mkdirSync('/etc/netns', { recursive: true });
    fs.symlinkSync(path.dirname(r.resolvConf), `/etc/netns/${ns}`);
    return { ...r, netns: `/run/netns/${ns}`, sb };
  }

  before(async function () {
    if (!haveEtcd()) this.skip();
    top = await Rtnl.open();
    hosts = await Promise.all(hostNames.map((n) => Netns.create(n)));
    for (const rt of await underlay(top, underlayBr, hosts, vtep, TOP)) {
      await rt.route.add({ dst: 'default', gateway: TOP });
      rt.close();
      dirs.push(fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-ovt-')));
    }
    etcd = await startEtcd({ host: TOP, basePort: 24190 });
    for (let i = 0; i < 3; i++) agents.push(await startAgent(hostNames[i], agentArgs(i)));
  });

  after(async () => {
    await Promise.all(agents.map((a) => new Promise<void>((r) => {
      const p = a.proc;
      if (p.exitCode !== null || p.signalCode !== null) return r();
      p.once('exit', () => r());
      a.call('destroy').catch(() => undefined);
      setTimeout(() => p.kill('SIGKILL'), 10000).unref();
    })));
    for (const n of sandboxNs) {
      await Netns.delete(n).catch(() => undefined);
      fs.rmSync(`/etc/netns/${n}`, { force: true });
    }
    if (top) {
      await removeUnderlay(top, underlayBr, hosts.length);
      top.close();
    }
    for (const ns of hosts) await ns.delete().catch(() => undefined);
    if (etcd) await etcd.destroy();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('open checks the cluster option: a store that is not etcd://, an advertise address not on this host, wrong types', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-ovo-'));
    try {
      await rejects(Controller.open({ stateDir: dir, firewall: null, dns: false, cluster: { store: 'http://127.0.0.1:2379', advertise: TOP } }), 'EINVAL', /etcd:\/\//);
      await rejects(Controller.open({ stateDir: dir, firewall: null, dns: false, cluster: { store: etcd.store, advertise: '203.0.113.9' } }), 'EINVAL', /not an address of this host/);
      await rejects(Controller.open({ stateDir: dir, firewall: null, dns: false, cluster: { store: etcd.store, advertise: TOP, colour: 'x' } as never }), 'EINVAL', /colour/);
      await rejects(Controller.open({ stateDir: dir, firewall: null, dns: false, cluster: 'etcd://x:1' as never }), 'ERR_INVALID_ARG_TYPE');
      // Without a cluster, the overlay driver says what it needs; no etcd code runs.
      const ctl = await Controller.open({ stateDir: dir, firewall: null, dns: false });
      try {
        await rejects(ctl.createNetwork({ name: 'ov', driver: 'overlay' }), 'EINVAL', /cluster store/);
        assert.ok(!ctl.networks().some((n) => n.name === 'ov'));
      } finally {
        await ctl.destroy();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a network made on one host is global and visible on every host; containers on three hosts ping across (VXLAN on UDP 4789), MTU 1450, TCP, names from the store, outbound', async () => {
    const ins = await agents[0].call('createNetwork', { name: 'ov', driver: 'overlay', subnet: '10.246.0.0/24', options: { 'com.docker.network.driver.overlay.vxlanid_list': '4097' } });
    assert.strictEqual(ins.Scope, 'global');
    assert.strictEqual(ins.Driver, 'overlay');
    assert.strictEqual(ins.Options['com.docker.network.driver.overlay.vxlanid_list'], '4097');
    assert.deepStrictEqual(ins.IPAM.Config, [{ Subnet: '10.246.0.0/24', Gateway: '10.246.0.1' }]);
    for (const a of agents.slice(1)) {
      await untilAsync(async () => (await a.call('networks')).some((n: any) => n.name === 'ov' && n.scope === 'global' && n.driver === 'overlay'), 5000, 'network mirrored');
      assert.strictEqual((await a.call('inspect', 'ov')).Id, ins.Id, 'one id on every host');
    }
    // Lazily: no data path before the first join.
    assert.ok(!ipj(['link', 'show'], hostNames[1]).some((l: any) => l.ifname === 'ov-4097'));
    // c1 has an alias; c2's sandbox has a name, hostname and (64-hex) id of its own: all resolve on other hosts too.
    c.push(await container(0, 'ov', 'c0'));
    c.push(await container(1, 'ov', 'c1', { aliases: ['web'] }));
    c.push(await container(2, 'ov', 'c2', { id: c2Id, sbName: 'box2', hostname: 'h2' }));
    assert.strictEqual(new Set(c.map((x) => x.ip)).size, 3);
    const vx = ipj(['-d', 'link', 'show', 'vx-4097'], hostNames[0])[0];
    assert.strictEqual(vx.linkinfo.info_data.id, 4097);
    assert.strictEqual(vx.linkinfo.info_data.port, 4789);
    assert.strictEqual(vx.linkinfo.info_data.local, vtep(0));
    const eth0 = ipj(['link', 'show', 'eth0'], nsName(c[0].netns))[0];
    assert.strictEqual(eth0.mtu, 1450);
    assert.strictEqual(eth0.address, c[0].mac);
    // Every host has the other two as static peers (nothing learned).
    for (let h = 0; h < 3; h++) {
      const want = c.filter((_, i) => i !== h).map((x) => x.mac).sort();
      await untilAsync(async () => JSON.stringify(remoteMacs(h)) === JSON.stringify(want), 10000, `peers on host ${h}`);
    }
    sh('nft', ['-f', '-'], { ns: hostNames[0], input: 'table inet vxc {\n chain o { type filter hook output priority 0; udp dport 4789 counter; }\n}\n' });
    assert.ok(await ping(nsName(c[0].netns), c[1].ip), 'c0 (host 0) -> c1 (host 1)');
    assert.ok(await ping(nsName(c[2].netns), c[0].ip), 'c2 (host 2) -> c0 (host 0)');
    assert.ok(await ping(nsName(c[1].netns), c[2].ip), 'c1 (host 1) -> c2 (host 2)');
    const out = JSON.parse(sh('nft', ['-j', 'list', 'table', 'inet', 'vxc'], { ns: hostNames[0] })).nftables.find((o: any) => o.rule).rule.expr.find((e: any) => e.counter).counter.packets;
    assert.ok(out >= 2, `VXLAN packets out of host 0: ${out}`);
    // TCP from host 2's container to host 1's.
    const ns1 = await Netns.open({ path: c[1].netns });
    const ns2 = await Netns.open({ path: c[2].netns });
    const srv = await tcpServer(ns1, '0.0.0.0', 8080, (r) => `hello ${r}`);
    try {
      assert.strictEqual(await tcpGet(ns2, c[1].ip, 8080), `hello ${c[2].ip}`);
    } finally {
      srv.close();
      ns1.close();
      ns2.close();
    }
    // Names of the other hosts' endpoints, from the store (the driver's names hook).
    assert.deepStrictEqual(await agents[0].call('names', { net: 'ov', name: 'c1' }), [c[1].ip]);
    assert.deepStrictEqual(await agents[0].call('names', { net: 'ov', name: 'C2.ov' }), [c[2].ip]);
    assert.strictEqual(await agents[0].call('names', { net: 'ov', name: 'nobody' }), null);
    assert.deepStrictEqual(await agents[1].call('reverse', { net: 'ov', ip: c[0].ip }), ['c0.ov']);
    // Outbound: masqueraded out of the host (the top namespace has no route back to the overlay subnet).
    assert.ok(await ping(nsName(c[0].netns), TOP), 'c0 -> the underlay (masquerade)');
  });

  it('names across hosts through each container\'s own resolver (127.0.0.11): name, alias, NAME.NETWORK, sandbox name, hostname, short id, PTR; TCP by name; a leave withdraws them', async () => {
    const ns0 = nsName(c[0].netns);
    const ns2 = nsName(c[2].netns);
    for (const [q, want] of [['c1', c[1].ip], ['WEB', c[1].ip], ['c1.ov', c[1].ip], ['web.ov', c[1].ip], ['c2', c[2].ip], ['box2', c[2].ip], ['h2', c[2].ip], [c2Id.slice(0, 12), c[2].ip], ['box2.ov', c[2].ip]]) {
      assert.deepStrictEqual((await dig(ns0, q)).answers, [`A ${want}`], `${q} from host 0`);
    }
    assert.deepStrictEqual((await dig(ns2, 'c0')).answers, [`A ${c[0].ip}`], 'c0 from host 2');
    assert.deepStrictEqual((await dig(ns2, 'c2')).answers, [`A ${c[2].ip}`], 'a local name still answers');
    assert.deepStrictEqual((await dig(ns0, '-x', c[1].ip)).answers, ['PTR c1.ov.']);
    assert.deepStrictEqual((await dig(ns0, '-x', c[2].ip)).answers, ['PTR box2.ov.'], 'PTR of a remote endpoint: its sandbox name, as locally');
    assert.notStrictEqual((await dig(ns0, 'nobody')).status, 'NOERROR');
    // TCP by name: curl in c0 (host 0) and c2 (host 2) resolves through its resolv.conf, connects across VXLAN.
    const ns1 = await Netns.open({ path: c[1].netns });
    const srv = await httpServer(ns1, '0.0.0.0', 8080);
    try {
      assert.strictEqual(await curl(ns0, 'http://c1:8080/'), `hello ${c[0].ip}`);
      assert.strictEqual(await curl(ns0, 'http://web:8080/'), `hello ${c[0].ip}`);
      assert.strictEqual(await curl(ns2, 'http://c1.ov:8080/'), `hello ${c[2].ip}`);
    } finally {
      srv.close();
      ns1.close();
    }
    // A container on host 1 that leaves: its names go from host 0's resolver, its endpoint stays in the store (and keeps its address).
    const l1 = await container(1, 'ov', 'l1', { aliases: ['gone'] });
    try {
      assert.deepStrictEqual((await dig(ns0, 'gone')).answers, [`A ${l1.ip}`]);
      await agents[1].call('leave', { name: 'l1' });
      await untilAsync(async () => (await dig(ns0, 'gone')).answers.length === 0, 5000, 'l1\'s names withdrawn on host 0');
      assert.deepStrictEqual((await dig(ns0, '-x', l1.ip)).answers, []);
    } finally {
      // Gone whatever failed: a later test deletes the network cluster-wide.
      await agents[1].call('deleteEndpoint', { name: 'l1' }).catch(() => {});
      await agents[1].call('rm', { sb: l1.sb }).catch(() => {});
    }
  });

  it('published ports on an overlay endpoint answer on its host\'s underlay address, from another host and a container there; outbound is masqueraded to the host\'s address', async () => {
    const p0 = await container(0, 'ov', 'p0', { ports: ['18080:80'] });
    const nsP = await Netns.open({ path: p0.netns });
    const srv = await httpServer(nsP, '0.0.0.0', 80);
    const h1 = await Netns.open({ path: `/run/netns/${hostNames[1]}` });
    const c2ns = await Netns.open({ path: c[2].netns });
    const top = await httpServer(null, TOP, 18090);
    try {
      // From the underlay itself (this namespace), from host 1's namespace, and from c2 on host 2 (itself masqueraded out of host 2).
      assert.strictEqual((await tcpGetHttp(null, vtep(0), 18080)), `hello ${TOP}`);
      assert.strictEqual((await tcpGetHttp(h1, vtep(0), 18080)), `hello ${vtep(1)}`);
      assert.strictEqual((await tcpGetHttp(c2ns, vtep(0), 18080)), `hello ${vtep(2)}`);
      // Unpublished ports are not reachable from outside.
      assert.ok(!(await canConnectHttp(h1, vtep(0), 18081)));
      // Out: the underlay sees the host's address, not the container's (it has no route back to the overlay subnet).
      assert.strictEqual(await curl(nsName(c[0].netns), `http://${TOP}:18090/`), `hello ${vtep(0)}`);
      assert.strictEqual(await curl(nsName(p0.netns), `http://${TOP}:18090/`), `hello ${vtep(0)}`);
    } finally {
      srv.close();
      top.close();
      nsP.close();
      h1.close();
      c2ns.close();
      // Gone whatever failed: a later test deletes the network cluster-wide.
      await agents[0].call('rm', { sb: p0.sb });
    }
    const h1b = await Netns.open({ path: `/run/netns/${hostNames[1]}` });
    try {
      assert.ok(!(await canConnectHttp(h1b, vtep(0), 18080)), 'the mapping went with the container');
    } finally {
      h1b.close();
    }
  });

  it('no duplicate address when every host creates endpoints at once', async () => {
    const N = 60;
    const ips = (await Promise.all(agents.map((a, i) => a.call<string[]>('many', { net: 'ov', prefix: `m${i}-`, count: N })))).flat();
    assert.strictEqual(ips.length, 3 * N);
    assert.strictEqual(new Set([...ips, ...c.map((x) => x.ip)]).size, 3 * N + 3, 'every address once');
    await Promise.all(agents.map((a, i) => a.call('deleteEndpoints', { prefix: `m${i}-` })));
  });

  it('bad input gets typed errors and leaves nothing on any host: VNI taken, subnet overlapping, network in use elsewhere', async () => {
    await rejects(agents[1].call('createNetwork', { name: 'ov2', driver: 'overlay', options: { 'com.docker.network.driver.overlay.vxlanid_list': '4097' } }), 'EEXIST', /VNI 4097/);
    await rejects(agents[2].call('createNetwork', { name: 'ov3', driver: 'overlay', subnet: '10.246.0.128/25' }), 'EBUSY', /overlaps/);
    await rejects(agents[2].call('createNetwork', { name: 'ov4', driver: 'overlay', options: { 'x.y': '1' } }), 'EINVAL', /x\.y/);
    await rejects(agents[0].call('createNetwork', { name: 'ov', driver: 'overlay' }), 'EEXIST');
    // The name is a key in the cluster store: no slash (a local network may have one, as in Docker).
    await rejects(agents[2].call('createNetwork', { name: 'ov/x', driver: 'overlay' }), 'EINVAL', /invalid overlay network name/);
    // The cluster store's IPAM keeps one subnet per family, without ranges or auxiliary addresses.
    await rejects(agents[2].call('createNetwork', { name: 'ov5', driver: 'overlay', ipam: [{ subnet: '10.247.0.0/24' }, { subnet: '10.247.1.0/24' }] }), 'EINVAL', /one IPv4 subnet/);
    await rejects(agents[2].call('createNetwork', { name: 'ov6', driver: 'overlay', ipam: [{ subnet: '10.247.0.0/24', auxAddresses: { r: '10.247.0.9' } }] }), 'EINVAL', /auxAddresses/);
    await rejects(agents[2].call('createNetwork', { name: 'ov7', driver: 'overlay', ipam: [{ subnet: '10.247.0.0/24', ipRange: '10.247.0.0/25' }] }), 'EINVAL', /ipRange/);
    // Endpoints on hosts 1 and 2: not deleted from host 0.
    await rejects(agents[0].call('deleteNetwork', 'ov'), 'EBUSY');
    await sleep(300);
    for (const [i, a] of agents.entries()) {
      const names = (await a.call('networks')).map((n: any) => n.name);
      assert.ok(names.includes('ov') && !names.some((n: string) => /^ov[2-7]$/.test(n)), `host ${i}: ${names}`);
      assert.deepStrictEqual(ipj(['link', 'show'], hostNames[i]).map((l: any) => l.ifname).filter((n: string) => /^(ov|vx)-/.test(n)), ['ov-4097', 'vx-4097']);
    }
  });

  it('overlay and bridge networks side by side on one host', async () => {
    await agents[0].call('createNetwork', { name: 'lb', driver: 'bridge', subnet: '10.247.0.0/24' });
    lb = await container(0, 'lb', 'l0');
    assert.ok(await ping(nsName(lb.netns), '10.247.0.1'), 'bridge container -> its gateway');
    assert.ok(await ping(nsName(c[0].netns), c[1].ip), 'overlay still crosses');
    assert.strictEqual((await agents[0].call('inspect', 'lb')).Scope, 'local');
    assert.ok(!(await agents[1].call('networks')).some((n: any) => n.name === 'lb'), 'a local network stays local');
  });

  it('the overlay bridge deleted behind host 0\'s running controller: reconcile() makes its data path again, with the container\'s port and the peers, and traffic crosses again', async () => {
    const br = ipj(['-d', 'link', 'show'], hostNames[0]).find((l: any) => /^ov-/.test(l.ifname) && l.linkinfo?.info_kind === 'bridge').ifname;
    const del = await run('ip', ['-n', hostNames[0], 'link', 'del', br]);
    assert.strictEqual(del.code, 0, del.err);
    assert.ok(!(await ping(nsName(c[0].netns), c[1].ip, 2)), 'cut off without its bridge');
    const report = await agents[0].call('reconcile');
    assert.deepStrictEqual([report.droppedEndpoints, report.removedLinks], [[], []]);
    const ports = bridgej(['link', 'show'], hostNames[0]).filter((l: any) => l.master === br).map((l: any) => l.ifname);
    assert.ok(ports.some((p: string) => /^vx-/.test(p)) && ports.some((p: string) => /^veth/.test(p)), ports.join());
    assert.ok(await ping(nsName(c[0].netns), c[1].ip), 'c0 -> c1 again');
    // Deleted again: this time the next join makes it again, without a reconcile.
    assert.strictEqual((await run('ip', ['-n', hostNames[0], 'link', 'del', br])).code, 0);
    const z = await container(0, 'ov', 'z0');
    try {
      assert.ok(await ping(nsName(c[0].netns), c[1].ip), 'c0 -> c1 after the join made the bridge again');
      assert.ok(await ping(nsName(z.netns), c[1].ip), 'the new container -> c1');
    } finally {
      await agents[0].call('rm', { sb: z.sb });
    }
  });

  it('the overlay bridge deleted while 30 joins are in flight (ip link del, at random moments): every join resolves, every host end ends up on the bridge made again', async () => {
    const br = ipj(['-d', 'link', 'show'], hostNames[0]).find((l: any) => /^ov-/.test(l.ifname) && l.linkinfo?.info_kind === 'bridge').ifname;
    for (let round = 0; round < 5; round++) {
      const r = await agents[0].call('racyJoins', { net: 'ov', prefix: `rj${round}-`, count: 30, bridge: br, delayMs: round * 8 });
      assert.deepStrictEqual([r.failed, r.offBridge], [[], []], `round ${round}`);
      // Deleted after the last join: the next one (or reconcile) makes it again.
      if (!r.bridgeThere) await agents[0].call('reconcile');
    }
    assert.ok(await ping(nsName(c[0].netns), c[1].ip), 'c0 -> c1 after the rounds');
  });

  it('global networks carry their labels to every host; names: a local one\'s name is taken for a global one and back (EEXIST), a clash found while mirroring makes the name ambiguous (ENOTUNIQ), ids still work', async () => {
    await rejects(agents[0].call('createNetwork', { name: 'lb', driver: 'overlay' }), 'EEXIST', /lb/);
    const ins = await agents[0].call('createNetwork', { name: 'ovl', driver: 'overlay', labels: { tier: 'front', 'com.example.owner': 'ops' } });
    assert.deepStrictEqual(ins.Labels, { tier: 'front', 'com.example.owner': 'ops' });
    for (const a of agents.slice(1)) {
      await untilAsync(async () => (await a.call('networks')).some((n: any) => n.name === 'ovl'), 5000, 'ovl mirrored');
      assert.deepStrictEqual((await a.call('inspect', 'ovl')).Labels, ins.Labels);
    }
    assert.ok(!(await agents[1].call('networks')).some((n: any) => n.name === 'lb'), 'the refused global lb is nowhere');
    await rejects(agents[1].call('createNetwork', { name: 'ovl', driver: 'bridge' }), 'EEXIST', /ovl/);
    // Host 2 has a local "clash" (made before it saw the global one, here: the global one is made where the local one is unknown).
    const local = await agents[2].call('createNetwork', { name: 'clash', driver: 'bridge' });
    const global = await agents[0].call('createNetwork', { name: 'clash', driver: 'overlay' });
    await untilAsync(async () => (await agents[2].call('networks')).filter((n: any) => n.name === 'clash').length === 2, 5000, 'both clash networks on host 2');
    await rejects(agents[2].call('inspect', 'clash'), 'ENOTUNIQ', /ambiguous \(2 matches found based on name\)/);
    assert.strictEqual((await agents[2].call('inspect', global.Id)).Scope, 'global');
    assert.strictEqual((await agents[2].call('inspect', local.Id)).Scope, 'local');
    assert.strictEqual((await agents[1].call('inspect', 'clash')).Id, global.Id, 'no clash where no local one has the name');
    // The local one goes: the name is the global network's again.
    await agents[2].call('deleteNetwork', local.Id);
    assert.strictEqual((await agents[2].call('inspect', 'clash')).Id, global.Id);
    // A global network overlapping a local network of another host: no data path there (EBUSY at the join), nothing left.
    const lx = await agents[2].call('createNetwork', { name: 'lx', driver: 'bridge', subnet: '10.248.0.0/24' });
    const ovx = await agents[0].call('createNetwork', { name: 'ovx', driver: 'overlay', subnet: '10.248.0.0/25' });
    await untilAsync(async () => (await agents[2].call('networks')).some((n: any) => n.name === 'ovx'), 5000, 'ovx mirrored');
    const linksBefore = ipj(['link', 'show'], hostNames[2]).map((l: any) => l.ifname).sort();
    await rejects(container(2, 'ovx', 'z2'), 'EBUSY', /overlaps network lx/);
    assert.deepStrictEqual(ipj(['link', 'show'], hostNames[2]).map((l: any) => l.ifname).sort(), linksBefore, 'no residue on host 2');
    const vni = Number(ovx.Options['com.docker.network.driver.overlay.vxlanid_list']);
    assert.ok(!linksBefore.includes(`ov-${vni}`));
    await agents[2].call('deleteNetwork', lx.Id);
    for (const name of ['clash', 'ovl', 'ovx']) await agents[0].call('deleteNetwork', name);
    for (const a of agents) await untilAsync(async () => !(await a.call('networks')).some((n: any) => ['clash', 'ovl', 'ovx'].includes(n.name)), 5000, 'deleted everywhere');
  });

  it('etcd stopped: existing traffic flows, overlay creates fail fast with ENOTCONN, and work again once etcd is back', async () => {
    await etcd.members[0].stop();
    try {
      assert.ok(await ping(nsName(c[0].netns), c[1].ip), 'c0 -> c1 with etcd down');
      const t0 = Date.now();
      await rejects(agents[0].call('connect', { sb: lb.sb, net: 'ov', name: 'late' }), 'ENOTCONN');
      await rejects(agents[1].call('createNetwork', { name: 'ov5', driver: 'overlay' }), 'ENOTCONN');
      assert.ok(Date.now() - t0 < 5000, `failed in ${Date.now() - t0} ms`);
      // A local network does not need etcd.
      await agents[1].call('createNetwork', { name: 'lb1', driver: 'bridge' });
    } finally {
      await etcd.members[0].start();
    }
    await untilAsync(async () => {
      try {
        await agents[1].call('createNetwork', { name: 'ov5', driver: 'overlay' });
        return true;
      } catch { return false; }
    }, 15000, 'overlay create after etcd came back');
    await untilAsync(async () => (await agents[2].call('networks')).some((n: any) => n.name === 'ov5'), 5000, 'ov5 mirrored');
    await agents[1].call('deleteNetwork', 'ov5');
    await untilAsync(async () => !(await agents[2].call('networks')).some((n: any) => n.name === 'ov5'), 5000, 'ov5 gone everywhere');
  });

  it('close() keeps the host\'s lease to expire (as a stopped dockerd): peers keep its endpoints, traffic flows, and a restart within the TTL is not seen by them', async () => {
    let missing = 0;
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples++;
        if (!remoteMacs(0).includes(c[1].mac)) missing++;
        await sleep(50);
      }
    })();
    try {
      await agents[1].call('close').catch(() => undefined);
      await new Promise<void>((r) => (agents[1].proc.exitCode !== null ? r() : agents[1].proc.once('exit', () => r())));
      const t0 = Date.now();
      // Not revoked: host 1's record (and with it its endpoints) lives on in etcd under its lease.
      const raw = new Etcd3({ hosts: parseStoreUrl(etcd.store) });
      try {
        const hostsNow = await raw.getAll().prefix('/ovt/hosts/').json() as Record<string, { advertise: string }>;
        assert.ok(Object.values(hostsNow).some((h) => h.advertise === vtep(1)), 'host 1 still registered after close');
      } finally {
        raw.close();
      }
      assert.ok(await ping(nsName(c[0].netns), c[1].ip), 'c0 -> c1 while host 1 has no controller');
      agents[1] = await startAgent(hostNames[1], agentArgs(1));
      console.log(`      host 1's controller back ${Date.now() - t0} ms after its close`);
      // The restart took the lease over (the old one is revoked, its records moved): nothing can expire now.
      await sleep(500);
    } finally {
      sampling = false;
      await sampler;
    }
    assert.ok(samples > 10, `${samples} samples`);
    assert.strictEqual(missing, 0, `c1 missing from host 0's peers in ${missing} of ${samples} samples`);
    assert.deepStrictEqual(await agents[0].call('names', { net: 'ov', name: 'web' }), [c[1].ip]);
    assert.ok(await ping(nsName(c[0].netns), c[1].ip), 'c0 -> c1 after the restart');
  });

  it('kill -9 of one host\'s controller: the others forget its endpoints (peers, names) within 15 s', async () => {
    // The agents' leases have a 3 s TTL (the default is 10 s).
    await until(() => remoteMacs(0).includes(c[2].mac), 5000, 'host 2 peer present');
    const t1 = Date.now();
    agents[2].proc.kill('SIGKILL');
    for (const h of [0, 1]) await untilAsync(async () => !remoteMacs(h).includes(c[2].mac), 15000 - (Date.now() - t1), `host 2's peer gone from host ${h}`);
    console.log(`      peers of the killed host removed ${Date.now() - t1} ms after kill -9`);
    assert.strictEqual(await agents[0].call('names', { net: 'ov', name: 'c2' }), null);
    assert.ok(!(await ping(nsName(c[0].netns), c[2].ip, 1)), 'c0 -> c2 no longer');
    assert.ok(await ping(nsName(c[0].netns), c[1].ip), 'c0 -> c1 still');
  });

  it('a restarted controller adopts its data path and registers its endpoints again; the last leave removes the data path; deleted cluster-wide', async () => {
    // Host 2 comes back (its lease expired: its endpoint is registered again).
    agents[2] = await startAgent(hostNames[2], agentArgs(2));
    await untilAsync(async () => remoteMacs(0).includes(c[2].mac), 10000, 'host 2 peer back on host 0');
    assert.ok(await ping(nsName(c[0].netns), c[2].ip), 'c0 -> c2 after the restart');
    // Host 1's container goes: its data path with it.
    await agents[1].call('rm', { sb: c[1].sb });
    assert.ok(!ipj(['link', 'show'], hostNames[1]).some((l: any) => /^(ov|vx)-/.test(l.ifname)), 'no data path left on host 1');
    await untilAsync(async () => !remoteMacs(0).includes(c[1].mac), 5000, 'host 1 peer gone');
    for (const i of [0, 2]) await agents[i].call('rm', { sb: c[i].sb });
    await agents[0].call('rm', { sb: lb.sb });
    await agents[2].call('deleteNetwork', 'ov');
    for (const [i, a] of agents.entries()) {
      await untilAsync(async () => !(await a.call('networks')).some((n: any) => n.name === 'ov'), 5000, `ov gone on host ${i}`);
      assert.ok(!ipj(['link', 'show'], hostNames[i]).some((l: any) => /^(ov|vx)-/.test(l.ifname)), `no overlay links on host ${i}`);
    }
  });

  function remoteMacs(h: number): string[] {
    try {
      return bridgej(['fdb', 'show', 'dev', 'vx-4097'], hostNames[h]).filter((f: any) => f.dst).map((f: any) => f.mac).sort();
    } catch {
      return [];
    }
  }
});

async function untilAsync(pred: () => Promise<boolean>, ms: number, what: string): Promise<number> {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
  return Date.now() - t0;
}

/** The body of an HTTP/1.0 GET to host:port from `ns` (a socket made there). */
function tcpGetHttp(ns: Netns | null, host: string, port: number, timeoutMs = 10000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = ns ? new net.Socket({ fd: ns.socket(4, 'tcp'), readable: true, writable: true }) : new net.Socket();
    let data = '';
    const timer = setTimeout(() => { s.destroy(); reject(Object.assign(new Error(`timeout connecting to ${host}:${port}`), { code: 'ETIMEDOUT' })); }, timeoutMs);
    s.on('data', (d) => (data += d));
    s.on('end', () => { clearTimeout(timer); resolve(data.split('\r\n\r\n').slice(1).join('\r\n\r\n')); });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.connect(port, host, () => s.write('GET / HTTP/1.0\r\n\r\n'));
  });
}

const canConnectHttp = (ns: Netns | null, host: string, port: number) => tcpGetHttp(ns, host, port, 1000).then(() => true, () => false);
