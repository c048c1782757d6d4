import { execFileSync } from 'child_process';
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Controller, Endpoint, Netns, Network, Rtnl, Sandbox } from '../src';
import { controllerPerTest, tmpState } from './cnm-helpers';
import { bridgej, eventually, hostLinks, ipj, rejects } from './helpers';
import { canConnect, run, tcpGet, tcpServer } from './net-helpers';

/** [host port, container IP] of each element of an `ip cnm-netlink` port map, as `nft -j` lists it. */
function nftMapElements(map: string): [number, string][] {
  const j = JSON.parse(execFileSync('nft', ['-j', 'list', 'map', 'ip', 'cnm-netlink', map], { encoding: 'utf8' }));
  const m = j.nftables.find((x: any) => x.map)?.map;
  return (m?.elem ?? []).map((e: any) => {
    // [{ elem: { val: { concat: [proto, port] }, comment } }, { concat: [ip, port] }] or without the wrapper.
    const [k, v] = e;
    const key = k.elem?.val ?? k;
    return [key.concat[1], v.concat[0]];
  });
}

/** A sandbox of that id, joined to `net` by an endpoint of the same name. */
async function joined(ctl: Controller, net: Network, id: string): Promise<{ sb: Sandbox; ep: Endpoint }> {
  const sb = await ctl.createSandbox({ id });
  const ep = await net.createEndpoint({ name: id });
  await ep.join(sb);
  return { sb, ep };
}

describe('cnm: drivers and modes', function () {
  this.timeout(60000);
  let ctl: Controller;
  controllerPerTest((c) => { ctl = c; }, () => ctl);

  it('has Docker\'s default networks', () => {
    assert.deepStrictEqual(ctl.networks().map((n) => n.name), ['bridge', 'host', 'none']);
    const b = ctl.network('bridge').inspect();
    assert.deepStrictEqual([b.Driver, b.IPAM.Config![0].Subnet, b.IPAM.Config![0].Gateway, b.Options['com.docker.network.bridge.name']], ['bridge', '172.17.0.0/16', '172.17.0.1', 'cnm0']);
    assert.deepStrictEqual(b.Options, {
      'com.docker.network.bridge.default_bridge': 'true', 'com.docker.network.bridge.enable_icc': 'true',
      'com.docker.network.bridge.enable_ip_masquerade': 'true', 'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
      'com.docker.network.bridge.name': 'cnm0', 'com.docker.network.driver.mtu': '1500',
    });
    assert.deepStrictEqual([b.IPAM.Options, b.ConfigFrom, b.ConfigOnly], [null, { Network: '' }, false]);
    const none = ctl.network('none').inspect();
    assert.deepStrictEqual([none.Driver, none.IPAM.Config, none.EnableIPv4], ['null', null, true]);
  });

  it('bridge: a user network with two containers, as docker run does it', async () => {
    const net = await ctl.createNetwork({ name: 'app', labels: { team: 'x' } });
    const info = net.inspect();
    assert.strictEqual(info.IPAM.Config![0].Subnet, '172.18.0.0/16');
    assert.strictEqual(info.IPAM.Config![0].Gateway, '172.18.0.1');
    assert.deepStrictEqual(info.Labels, { team: 'x' });
    // Docker shows a user network's options as given: no bridge name added.
    assert.deepStrictEqual([info.Options, info.IPAM.Options], [{}, {}]);
    assert.match(info.Id, /^[0-9a-f]{64}$/);
    const br = ipj(['-d', 'link', 'show', 'dev', net.bridge!])[0];
    assert.strictEqual(br.linkinfo.info_kind, 'bridge');
    assert.ok(ipj(['addr', 'show', 'dev', net.bridge!])[0].addr_info.some((a: any) => a.local === '172.18.0.1' && a.prefixlen === 16));
    const s1 = await ctl.createSandbox({ id: 'c1' });
    const s2 = await ctl.createSandbox({ id: 'c2', hostname: 'two' });
    const e1 = await net.createEndpoint({ name: 'c1' });
    const e2 = await net.createEndpoint({ name: 'c2' });
    await e1.join(s1);
    await e2.join(s2);
    assert.deepStrictEqual([e1.ipv4, e2.ipv4, e1.mac], ['172.18.0.2', '172.18.0.3', '02:42:ac:12:00:02']);
    const ns1 = s1.record.netnsName!;
    const links = ipj(['link', 'show'], ns1);
    assert.deepStrictEqual(links.map((l: any) => l.ifname).sort(), ['eth0', 'lo']);
    const eth0 = links.find((l: any) => l.ifname === 'eth0');
    assert.strictEqual(eth0.address, '02:42:ac:12:00:02');
    assert.ok(ipj(['addr', 'show', 'dev', 'eth0'], ns1)[0].addr_info.some((a: any) => a.local === '172.18.0.2' && a.prefixlen === 16));
    const def = ipj(['route', 'show', 'default'], ns1)[0];
    assert.deepStrictEqual([def.gateway, def.dev], ['172.18.0.1', 'eth0']);
    // The host end is on the bridge, up, named veth + 7 hex.
    const hostEnd = ipj(['link', 'show', 'master', net.bridge!]);
    assert.strictEqual(hostEnd.length, 2);
    assert.ok(hostEnd.every((l: any) => /^veth[0-9a-f]{7}$/.test(l.ifname) && l.flags.includes('UP')));
    // Real traffic by address, and inspect lists both.
    const n1 = await s1.netns();
    const n2 = await s2.netns();
    const srv = await tcpServer(n2, '0.0.0.0', 80, (r) => `hi ${r}`);
    assert.strictEqual(await tcpGet(n1, '172.18.0.3', 80), 'hi 172.18.0.2');
    srv.close();
    n1.close(); n2.close();
    const c = net.inspect().Containers;
    assert.deepStrictEqual(Object.values(c).map((x: any) => [x.Name, x.IPv4Address]).sort(), [['c1', '172.18.0.2/16'], ['c2', '172.18.0.3/16']]);
    assert.ok(fs.readFileSync(s2.hostsPath, 'utf8').includes('172.18.0.3\ttwo'));
    // `ip netns exec` sees the same files (through /etc/netns/NAME).
    const hosts = execFileSync('ip', ['netns', 'exec', s2.record.netnsName!, 'cat', '/etc/hosts'], { encoding: 'utf8' });
    assert.ok(hosts.includes('172.18.0.3\ttwo'), hosts);
    // IPv4-only network: no IPv6 link-local on either end (as Docker), lo up.
    assert.strictEqual(ipj(['-d', 'link', 'show', 'dev', 'eth0'], ns1)[0].inet6_addr_gen_mode, 'none');
    assert.ok(!ipj(['addr', 'show', 'dev', 'eth0'], ns1)[0].addr_info.some((a: any) => a.family === 'inet6'));
    assert.ok(ipj(['addr', 'show', 'dev', 'lo'], ns1)[0].flags.includes('UP'));
    assert.ok(hostEnd.every((l: any) => !ipj(['addr', 'show', 'dev', l.ifname])[0].addr_info.some((a: any) => a.family === 'inet6')));
  });

  it('names and aliases resolve on user networks, not on the default bridge', async () => {
    const net = await ctl.createNetwork({ name: 'dnsnet' });
    const sbs = [];
    for (const [id, aliases] of [['busybox1', ['db']], ['busybox2', []]] as const) {
      const sb = await ctl.createSandbox({ id });
      const ep = await net.createEndpoint({ name: id, aliases: [...aliases] });
      await ep.join(sb);
      sbs.push(sb);
    }
    const ns1 = sbs[0].record.netnsName!;
    const byName = await run('ip', ['netns', 'exec', ns1, 'ping', '-c', '1', '-w', '10', 'busybox2']);
    assert.strictEqual(byName.code, 0, byName.err + byName.out);
    assert.match(byName.out, /172\.\d+\.0\.3/);
    const alias = await run('ip', ['netns', 'exec', sbs[1].record.netnsName!, 'getent', 'hosts', 'db']);
    assert.match(alias.out, /^172\.\d+\.0\.2\s+db/);
    const nx = await run('ip', ['netns', 'exec', ns1, 'getent', 'hosts', 'nosuchname']);
    assert.notStrictEqual(nx.code, 0);
    // The sandbox's own resolver, as Docker's; nothing listens on the gateway.
    assert.match(fs.readFileSync(sbs[0].resolvConfPath, 'utf8'), /^nameserver 127\.0\.0\.11$/m);
    assert.notStrictEqual((await run('dig', ['+short', '+time=1', '+tries=1', `@${net.gateway}`, 'busybox2'])).code, 0, 'no server on the gateway');
    // Default bridge: no embedded DNS, as in Docker.
    const d1 = await ctl.createSandbox({ id: 'plain1' });
    const d2 = await ctl.createSandbox({ id: 'plain2' });
    await (await ctl.network('bridge').createEndpoint({ name: 'plain1' })).join(d1);
    await (await ctl.network('bridge').createEndpoint({ name: 'plain2' })).join(d2);
    assert.ok(ipj(['link', 'show', 'dev', 'cnm0']).length === 1);
    const none = await run('ip', ['netns', 'exec', d1.record.netnsName!, 'getent', 'hosts', 'plain2']);
    assert.notStrictEqual(none.code, 0);
    assert.ok(!fs.readFileSync(d1.resolvConfPath, 'utf8').includes('172.17.0.1'));
  });

  it('container mode: two sandboxes share one namespace and talk over lo', async () => {
    const net = await ctl.createNetwork({ name: 'podnet' });
    const pod = await ctl.createSandbox({ id: 'pod' });
    await (await net.createEndpoint({ name: 'pod' })).join(pod);
    const side = await ctl.createSandbox({ id: 'sidecar', joinSandbox: 'pod' });
    const a = await pod.netns();
    const b = await side.netns();
    assert.ok(a.equals(b));
    const srv = await tcpServer(a, '127.0.0.1', 9000, () => 'over lo');
    assert.strictEqual(await tcpGet(b, '127.0.0.1', 9000), 'over lo');
    srv.close();
    a.close(); b.close();
    // A sidecar made before the pod joins a user network sees its name server and address too.
    const late = await ctl.createSandbox({ id: 'early', joinSandbox: 'pod' });
    const net2 = await ctl.createNetwork({ name: 'podnet2', subnet: '10.128.0.0/24' });
    await (await net2.createEndpoint({ name: 'pod2' })).join(pod);
    assert.match(fs.readFileSync(late.record.resolvConfPath, 'utf8'), /nameserver 127\.0\.0\.11/);
    assert.match(fs.readFileSync(late.record.hostsPath, 'utf8'), /10\.128\.0\.2\s/);
    await late.delete();
    await rejects(pod.delete(), 'EBUSY');
    await side.delete();
  });

  it('link-local addresses are spelled as the kernel reports them', () => {
    const { linkLocalOf } = require('../src/cnm/controller');
    assert.strictEqual(linkLocalOf('02:42:0a:4d:00:03'), 'fe80::42:aff:fe4d:3');
    assert.strictEqual(linkLocalOf('02:00:5e:10:00:01'), 'fe80::5eff:fe10:1');
  });

  it('IPv6: a dual-stack network gives both addresses and routes', async () => {
    const net = await ctl.createNetwork({ name: 'v6net', ipv6: true, subnet6: 'fd42:1::/64' });
    assert.deepStrictEqual(net.inspect().IPAM.Config!.map((c: any) => c.Subnet), [net.subnet, 'fd42:1::/64']);
    const a = await ctl.createSandbox({ id: 'six1' });
    const b = await ctl.createSandbox({ id: 'six2' });
    const ea = await net.createEndpoint({ name: 'six1' });
    const eb = await net.createEndpoint({ name: 'six2', ip6: 'fd42:1::99' });
    await ea.join(a);
    await eb.join(b);
    assert.strictEqual(ea.ipv6, 'fd42:1::2');
    const addrs = ipj(['-6', 'addr', 'show', 'dev', 'eth0'], a.record.netnsName!)[0].addr_info.map((x: any) => x.local);
    assert.ok(addrs.includes('fd42:1::2'));
    // IPv6 network: the container end has its link-local, as on Docker.
    await eventually(() => assert.ok(ipj(['-6', 'addr', 'show', 'dev', 'eth0'], a.record.netnsName!)[0].addr_info.some((x: any) => x.local.startsWith('fe80:'))));
    assert.strictEqual(ipj(['-6', 'route', 'show', 'default'], a.record.netnsName!)[0].gateway, 'fd42:1::1');
    const ns = await a.netns();
    const nb = await b.netns();
    const net6 = require('net');
    const srv = net6.createServer((sock: any) => sock.end('v6 ok'));
    await new Promise<void>((r) => srv.listen({ fd: nb.socket(6, 'tcp', { address: 'fd42:1::99', port: 80 }) }, r));
    const got = await new Promise<string>((resolve, reject) => {
      const c = new net6.Socket({ fd: ns.socket(6, 'tcp'), readable: true, writable: true });
      let d = '';
      c.on('data', (x: any) => (d += x)).on('end', () => resolve(d)).on('error', reject);
      c.connect(80, 'fd42:1::99');
    });
    srv.close();
    ns.close(); nb.close();
    assert.strictEqual(got, 'v6 ok');
    assert.deepStrictEqual(ctl.resolveName(net.id, 'six2', 'AAAA'), ['fd42:1::99']);
  });

  it('adopts an existing namespace by key, like a runtime\'s SetKey', async () => {
    const ns = await Netns.create('runtime-made');
    try {
      const sb = await ctl.createSandbox({ id: 'adopted', key: '/run/netns/runtime-made' });
      const net = await ctl.createNetwork({ name: 'adoptnet' });
      await (await net.createEndpoint({ name: 'adopted' })).join(sb);
      assert.ok(ipj(['addr', 'show', 'dev', 'eth0'], 'runtime-made')[0].addr_info.some((a: any) => a.local === '172.18.0.2' || a.local?.startsWith('172.')));
      assert.strictEqual(sb.key, '/run/netns/runtime-made');
      const eps = sb.inspect().endpoints.map((e: any) => e.id);
      await sb.delete();
      for (const id of eps) await ctl.endpoints().find((e) => e.id === id)!.delete();
      // The runtime's namespace is the runtime's: still there, our veth gone.
      assert.ok(Netns.list().includes('runtime-made'));
      assert.deepStrictEqual(ipj(['link', 'show'], 'runtime-made').map((l: any) => l.ifname), ['lo']);
    } finally {
      await ns.delete();
    }
  });

  it('a container with its own MAC announces itself: a neighbour that remembered another MAC for its address learns the new one', async () => {
    const net = await ctl.createNetwork({ name: 'garpnet', subnet: '10.77.0.0/24' });
    const a = await ctl.createSandbox({ id: 'garp-a' });
    await (await net.createEndpoint({ name: 'garp-a' })).join(a);
    const nsA = a.record.netnsName!;
    // A stale entry for the address the next container will get, with another MAC.
    execFileSync('ip', ['-n', nsA, 'neigh', 'replace', '10.77.0.3', 'lladdr', '02:00:00:00:00:99', 'dev', 'eth0', 'nud', 'stale']);
    const b = await ctl.createSandbox({ id: 'garp-b' });
    await (await net.createEndpoint({ name: 'garp-b', mac: '02:11:22:33:44:55' })).join(b);
    await eventually(() => {
      const n = ipj(['neigh', 'show', '10.77.0.3', 'dev', 'eth0'], nsA)[0];
      assert.strictEqual(n?.lladdr, '02:11:22:33:44:55');
    });
    // The address's next holder has the MAC derived from it: it announces
    // itself too, as the neighbour still remembers the given one.
    const epB = ctl.endpoints().find((e) => e.name === 'garp-b')!;
    await b.delete();
    await epB.delete();
    const c = await ctl.createSandbox({ id: 'garp-c' });
    const epC = await net.createEndpoint({ name: 'garp-c' });
    assert.deepStrictEqual([epC.ipv4, epC.mac], ['10.77.0.3', '02:42:0a:4d:00:03']);
    await epC.join(c);
    await eventually(() => {
      const n = ipj(['neigh', 'show', '10.77.0.3', 'dev', 'eth0'], nsA)[0];
      assert.strictEqual(n?.lladdr, '02:42:0a:4d:00:03');
    });
  });

  it('a sandbox joins several networks: eth0, eth1, one default route', async () => {
    const front = await ctl.createNetwork({ name: 'front' });
    const back = await ctl.createNetwork({ name: 'back', internal: true });
    const sb = await ctl.createSandbox({ id: 'multi' });
    await (await front.createEndpoint({ name: 'multi' })).join(sb);
    const eb = await back.createEndpoint({ name: 'multi' });
    await eb.join(sb);
    const ns = sb.record.netnsName!;
    assert.deepStrictEqual(ipj(['link', 'show'], ns).map((l: any) => l.ifname).sort(), ['eth0', 'eth1', 'lo']);
    const defaults = ipj(['route', 'show', 'default'], ns);
    assert.strictEqual(defaults.length, 1);
    assert.strictEqual(defaults[0].gateway, front.gateway);
    await eb.leave();
    assert.deepStrictEqual(ipj(['link', 'show'], ns).map((l: any) => l.ifname).sort(), ['eth0', 'lo']);
    await eb.delete();
  });

  it('a first join finds its interface even when something else took the namespace\'s first index meanwhile (down, or up)', async () => {
    const net = await ctl.createNetwork({ name: 'idx' });
    for (const up of [false, true]) {
      const id = up ? 'idx-up' : 'idx-down';
      const sb = await ctl.createSandbox({ id });
      const ns = sb.record.netnsName!;
      // Made right after the sandbox, before its first join: one end gets ifindex 2.
      execFileSync('ip', ['-n', ns, 'link', 'add', 'other0', 'type', 'veth', 'peer', 'name', 'other1']);
      if (up) for (const l of ['other0', 'other1']) execFileSync('ip', ['-n', ns, 'link', 'set', l, 'up']);
      const before = ipj(['link', 'show'], ns).find((l: any) => l.ifindex === 2).ifname;
      assert.match(before, /^other[01]$/);
      const ep = await net.createEndpoint({ name: id });
      await ep.join(sb);
      const links = ipj(['-d', 'addr', 'show'], ns);
      const other = links.find((l: any) => l.ifindex === 2);
      assert.strictEqual(other.ifname, before, 'the other interface keeps its name');
      assert.deepStrictEqual(other.addr_info.filter((a: any) => a.family === 'inet'), []);
      const eth0 = links.find((l: any) => l.ifname === 'eth0');
      assert.notStrictEqual(eth0.ifindex, 2);
      assert.deepStrictEqual(eth0.addr_info.filter((a: any) => a.family === 'inet').map((a: any) => a.local), [ep.ipv4]);
      assert.ok(eth0.flags.includes('UP'));
      assert.strictEqual(ipj(['route', 'show', 'default'], ns)[0].dev, 'eth0');
      await sb.delete();
      await ep.delete();
    }
  });

  it('IPAM: Docker\'s default pools in order, then 192.168.0.0/16 in /20s; configurable pools; subnets on host routes skipped', async () => {
    // 172.17 is the default bridge's; user networks take 172.18 ... 172.31.
    const subnets: string[] = [];
    for (let i = 0; i < 15; i++) subnets.push((await ctl.createNetwork({ name: `pool${i}` })).inspect().IPAM.Config![0].Subnet);
    assert.deepStrictEqual(subnets, [...Array.from({ length: 14 }, (_, i) => `172.${18 + i}.0.0/16`), '192.168.0.0/20']);
    for (let i = 0; i < 15; i++) await ctl.network(`pool${i}`).delete();
    // Pools like dockerd's default-address-pools; a subnet a host route uses is skipped.
    await ctl.destroy();
    ctl = await Controller.open({ stateDir: tmpState(), upstreamDns: [], pools: [{ base: '10.140.0.0/22', size: 24 }] });
    execFileSync('ip', ['route', 'add', '10.140.1.0/24', 'dev', 'lo']);
    try {
      const got: string[] = [];
      for (let i = 0; i < 3; i++) got.push((await ctl.createNetwork({ name: `cfg${i}` })).inspect().IPAM.Config![0].Subnet);
      assert.deepStrictEqual(got, ['10.140.0.0/24', '10.140.2.0/24', '10.140.3.0/24']);
      await rejects(ctl.createNetwork({ name: 'cfg3' }), 'ENOSPC');
    } finally {
      execFileSync('ip', ['route', 'del', '10.140.1.0/24', 'dev', 'lo']);
    }
  });

  it('bridge options: MTU on the bridge and both veth ends; no masquerade with enable_ip_masquerade=false; host_binding_ipv4 as the default host IP', async () => {
    const mtu = await ctl.createNetwork({ name: 'small', subnet: '10.141.0.0/24', options: { 'com.docker.network.driver.mtu': '1400', 'com.docker.network.bridge.name': 'br-small' } });
    const sb = await ctl.createSandbox({ id: 'mtu1' });
    const ep = await mtu.createEndpoint({ name: 'mtu1' });
    await ep.join(sb);
    assert.deepStrictEqual([ipj(['link', 'show', 'dev', 'br-small'])[0].mtu, ipj(['link', 'show', 'dev', ep.record.hostIfname!])[0].mtu, ipj(['link', 'show', 'dev', 'eth0'], sb.record.netnsName!)[0].mtu], [1400, 1400, 1400]);
    await ctl.createNetwork({ name: 'nomasq', subnet: '10.142.0.0/24', options: { 'com.docker.network.bridge.enable_ip_masquerade': 'false' } });
    const post = execFileSync('nft', ['list', 'chain', 'ip', 'cnm-netlink', 'postrouting'], { encoding: 'utf8' });
    // Outbound masquerade (leaving by another interface) only where enabled; hairpin rules stay.
    assert.match(post, /ip saddr 10\.141\.0\.0\/24 oifname != "br-small" masquerade/);
    assert.doesNotMatch(post, /ip saddr 10\.142\.0\.0\/24 oifname !=/);
    assert.match(post, /ip saddr 10\.142\.0\.0\/24 ct status dnat masquerade/);
    const bound = await ctl.createNetwork({ name: 'bound', subnet: '10.143.0.0/24', options: { 'com.docker.network.bridge.host_binding_ipv4': '127.0.0.1' } });
    const bep = await bound.createEndpoint({ name: 'bound1', ports: ['8088:80'] });
    assert.strictEqual(bep.record.ports[0].hostIp, '127.0.0.1');
  });

  it('leaving the gateway network hands both default routes (IPv4 and IPv6) to the next network', async () => {
    const one = await ctl.createNetwork({ name: 'one', subnet: '10.126.0.0/24', subnet6: 'fd00:126::/64' });
    const two = await ctl.createNetwork({ name: 'two', subnet: '10.127.0.0/24', subnet6: 'fd00:127::/64' });
    const sb = await ctl.createSandbox({ id: 'handover' });
    const e1 = await one.createEndpoint({ name: 'handover' });
    await e1.join(sb);
    await (await two.createEndpoint({ name: 'handover' })).join(sb);
    const ns = sb.record.netnsName!;
    const gws = () => [...ipj(['-4', 'route', 'show', 'default'], ns), ...ipj(['-6', 'route', 'show', 'default'], ns)].map((r: any) => r.gateway);
    assert.deepStrictEqual(gws(), ['10.126.0.1', 'fd00:126::1']);
    await e1.leave();
    assert.deepStrictEqual(gws(), ['10.127.0.1', 'fd00:127::1']);
  });
});

describe('cnm: state, recovery and bad input', function () {
  this.timeout(120000);

  it('restores everything after a restart; addresses are never handed out twice', async () => {
    const dir = tmpState();
    let ctl = await Controller.open({ stateDir: dir });
    const net = await ctl.createNetwork({ name: 'persist', subnet: '10.123.0.0/24', gateway: '10.123.0.254', ipRange: '10.123.0.128/25' });
    const sb = await ctl.createSandbox({ id: 'p1' });
    const ep = await net.createEndpoint({ name: 'p1', aliases: ['alpha'] });
    await ep.join(sb);
    assert.strictEqual(ep.ipv4, '10.123.0.128');
    await ctl.close();
    ctl = await Controller.open({ stateDir: dir });
    try {
      const n2 = ctl.network('persist');
      assert.strictEqual(n2.inspect().IPAM.Config![0].Gateway, '10.123.0.254');
      assert.strictEqual(Object.keys(n2.inspect().Containers).length, 1);
      const sb2 = ctl.sandbox('p1');
      assert.strictEqual(sb2.key, '/run/netns/cnm-p1');
      const ep2 = await n2.createEndpoint({ name: 'p2' });
      assert.strictEqual(ep2.ipv4, '10.123.0.129');
      assert.ok(ctl.resolveName(n2.id, 'alpha', 'A')!.includes('10.123.0.128'));
    } finally {
      await ctl.destroy();
    }
  });

  it('a bridge that vanished while the controller was closed comes back: address, rules, ports attached, names answered', async () => {
    const dir = tmpState();
    let ctl = await Controller.open({ stateDir: dir });
    const net = await ctl.createNetwork({ name: 'again', subnet: '10.124.0.0/24', options: { 'com.docker.network.bridge.name': 'br-again' } });
    const sb = await ctl.createSandbox({ id: 'again1' });
    const ep = await net.createEndpoint({ name: 'again1', aliases: ['back'] });
    await ep.join(sb);
    const hostEnd = ep.record.hostIfname!;
    await ctl.close();
    execFileSync('ip', ['link', 'delete', 'br-again']);
    ctl = await Controller.open({ stateDir: dir });
    try {
      const br = ipj(['addr', 'show', 'dev', 'br-again'])[0];
      assert.ok(br.addr_info.some((a: any) => a.local === '10.124.0.1'), 'gateway address');
      assert.strictEqual(ipj(['link', 'show', 'dev', hostEnd])[0].master, 'br-again');
      assert.strictEqual(execFileSync('nft', ['list', 'chain', 'ip', 'cnm-netlink', `in-${net.id.slice(0, 12)}`], { encoding: 'utf8' }).includes('drop'), true);
      // The container reaches its gateway again, and its name server answers.
      const got = await run('ip', ['netns', 'exec', sb.record.netnsName!, 'getent', 'hosts', 'back']);
      assert.match(got.out, /^10\.124\.0\.2\s+/, got.err);
    } finally {
      await ctl.destroy();
    }
  });

  it('a bridge left half made (a crash between its setup steps: down, no address, no route_localnet) is finished on open; so are the default networks of a first open cut short', async () => {
    const dir = tmpState();
    let ctl = await Controller.open({ stateDir: dir });
    const net = await ctl.createNetwork({ name: 'half', subnet: '10.127.0.0/24', options: { 'com.docker.network.bridge.name': 'br-half' } });
    const { sb, ep } = await joined(ctl, net, 'half1');
    await ctl.close();
    // What the kill left: the device made, its later steps not.
    execFileSync('ip', ['link', 'set', 'br-half', 'down']);
    execFileSync('ip', ['addr', 'flush', 'dev', 'br-half']);
    fs.writeFileSync('/proc/sys/net/ipv4/conf/br-half/route_localnet', '0');
    ctl = await Controller.open({ stateDir: dir });
    try {
      const br = ipj(['addr', 'show', 'dev', 'br-half'])[0];
      assert.ok(br.flags.includes('UP'), 'up');
      assert.deepStrictEqual(br.addr_info.filter((a: any) => a.family === 'inet').map((a: any) => a.local), ['10.127.0.1']);
      assert.strictEqual(fs.readFileSync('/proc/sys/net/ipv4/conf/br-half/route_localnet', 'utf8').trim(), '1');
      const ns = await sb.netns();
      const srv = await tcpServer(ns, '0.0.0.0', 80, () => 'finished');
      try {
        assert.strictEqual(await tcpGet(null, ep.ipv4!, 80), 'finished');
      } finally {
        srv.close(); ns.close();
      }
    } finally {
      await ctl.close();
    }
    // A first open killed after the bridge network's record: host and none are made on the next.
    const snap = path.join(dir, 'state.json');
    const st = JSON.parse(fs.readFileSync(snap, 'utf8'));
    for (const [id, n] of Object.entries<any>(st.network)) if (n.builtin && n.name !== 'bridge') delete st.network[id];
    fs.writeFileSync(snap, JSON.stringify(st));
    ctl = await Controller.open({ stateDir: dir });
    try {
      assert.deepStrictEqual(ctl.networks().map((n) => n.name).sort(), ['bridge', 'half', 'host', 'none']);
    } finally {
      await ctl.destroy();
    }
  });

  it('a first open that fails late (the cluster option refused after the firewall was made) leaves no table and no state directory; bad references and a gateway-less bridge are refused; a foreign link with the host end\'s name does not block the join', async () => {
    const nftTables = async () => JSON.parse((await run('nft', ['-j', 'list', 'tables'])).out).nftables.filter((x: any) => x.table?.name === 'cnm-netlink');
    const before = await nftTables();
    const dir = path.join(tmpState(), 'fresh');
    await rejects(Controller.open({ stateDir: dir, cluster: { store: 'etcd://127.0.0.1:1', advertise: '192.0.2.77' } }), 'EINVAL', /advertise/);
    assert.deepStrictEqual(await nftTables(), before, 'no tables left');
    assert.ok(!fs.existsSync(dir), 'no state directory left');
    // Tables it only adopted (another controller's, whose state path is too long to be recorded) stay.
    const other = await Controller.open({ stateDir: path.join(tmpState(), 'x'.repeat(210)), upstreamDns: [] });
    try {
      const n = await other.createNetwork({ name: 'keeps' });
      const chains = async () => JSON.parse((await run('nft', ['-j', 'list', 'chains', 'ip'])).out).nftables.filter((x: any) => x.chain?.table === 'cnm-netlink').map((x: any) => x.chain.name).sort();
      const had = await chains();
      assert.ok(had.includes(`in-${n.id.slice(0, 12)}`));
      await rejects(Controller.open({ stateDir: path.join(tmpState(), 'fresh2'), cluster: { store: 'etcd://127.0.0.1:1', advertise: '192.0.2.77' } }), 'EINVAL', /advertise/);
      assert.deepStrictEqual(await chains(), had, "the other controller's rules are untouched");
    } finally {
      await other.destroy();
    }
    const ctl = await Controller.open({ stateDir: tmpState(), upstreamDns: [] });
    try {
      await rejects(ctl.createNetwork({ name: 'nogw', gateway: null }), 'EINVAL', /needs a gateway/);
      // One name on two networks: by id, or ENOTUNIQ; never a guess.
      const [a, b] = [await ctl.createNetwork({ name: 'refa' }), await ctl.createNetwork({ name: 'refb' })];
      const [ea, eb] = [await a.createEndpoint({ name: 'web' }), await b.createEndpoint({ name: 'web' })];
      await rejects(ctl.deleteEndpoint('web'), 'ENOTUNIQ', /refa.*refb|refb.*refa/);
      await rejects(ctl.deleteEndpoint(5 as any), 'ERR_INVALID_ARG_TYPE');
      assert.throws(() => ctl.resolveName(a.id, 5 as any, 'A'), (e: any) => e.code === 'ERR_INVALID_ARG_TYPE');
      assert.throws(() => ctl.resolveName(a.id, 'web', 'MX' as any), (e: any) => e.code === 'EINVAL');
      await ctl.deleteEndpoint(eb.id);
      // A link of someone else's with the name the host end would get: another name is taken.
      const sb = await ctl.createSandbox({ id: 'taken' });
      const want = `veth${ea.id.slice(0, 7)}`;
      assert.strictEqual((await run('ip', ['link', 'add', want, 'type', 'veth', 'peer', 'name', `${want.slice(0, 10)}p`])).code, 0);
      try {
        await ea.join(sb);
        assert.notStrictEqual(ea.record.hostIfname, want);
        assert.strictEqual(ipj(['link', 'show', 'dev', ea.record.hostIfname!])[0].master, a.record.bridge);
      } finally {
        await run('ip', ['link', 'del', want]);
      }
    } finally {
      await ctl.destroy();
    }
  });

  it('races on one object: an endpoint on a network deleted meanwhile, a container sandbox on a deleted owner, two deletes of one network, a leave queued behind a move to another sandbox', async () => {
    const ctl = await Controller.open({ stateDir: tmpState(), upstreamDns: [] });
    const settle = (p: Promise<unknown>) => p.then(() => 'ok', (e) => e.code ?? `uncoded ${e.message}`);
    try {
      for (let i = 0; i < 3; i++) {
        // Queued behind a reconcile, the create runs after the delete: ENOENT, nothing left.
        const n = await ctl.createNetwork({ name: `gone${i}` });
        const r = await Promise.all([settle(n.delete()), settle(ctl.reconcile()), settle(n.createEndpoint({ name: 'x' }))]);
        assert.deepStrictEqual(r, ['ok', 'ok', 'ENOENT']);
        assert.ok(!ctl.endpoints().some((e) => e.name === 'x'), 'no endpoint on a deleted network');
        // The owner's delete holds its lock while the create waits: ENOENT, not a sandbox that can never be deleted.
        const owner = await ctl.createSandbox({ id: `owner${i}` });
        assert.deepStrictEqual(await Promise.all([settle(owner.delete()), settle(ctl.createSandbox({ id: `pod${i}`, joinSandbox: `owner${i}` }))]), ['ok', 'ENOENT']);
        assert.ok(!ctl.sandboxes().some((s) => s.id === `pod${i}`));
        // The second delete finds it gone, and leaves the bridge of a network made meanwhile with its name alone.
        const a = await ctl.createNetwork({ name: `twice${i}`, options: { 'com.docker.network.bridge.name': 'br-twice' } });
        const r2 = await Promise.all([settle(a.delete()), settle(ctl.createNetwork({ name: `again${i}`, options: { 'com.docker.network.bridge.name': 'br-twice' } })), settle(a.delete())]);
        assert.deepStrictEqual(r2, ['ok', 'ok', 'ENOENT']);
        const b = ctl.network(`again${i}`);
        await joined(ctl, b, `onagain${i}`);
        assert.ok(ipj(['link', 'show', 'dev', 'br-twice']).length, 'its bridge is there');
        for (const s of ctl.sandboxes()) await s.delete();
        for (const e of ctl.endpoints()) await e.delete();
        await b.delete();
      }
      // A leave queued on the old sandbox's lock while the endpoint moves on: it never tears the new join down.
      const na = await ctl.createNetwork({ name: 'mva' }), nb = await ctl.createNetwork({ name: 'mvb' });
      for (let i = 0; i < 12; i++) {
        const A = await ctl.createSandbox({ id: `mA${i}` }), B = await ctl.createSandbox({ id: `mB${i}` });
        const ep = await na.createEndpoint({ name: `mv${i}`, ports: [`${18000 + i}:80`] });
        const ep2 = await nb.createEndpoint({ name: `mw${i}` });
        await ep.join(A);
        const l1 = settle(ep.leave());
        const x = settle(ep2.join(A));
        await new Promise((r) => setImmediate(r));
        const l2 = settle(ep.leave());
        await l1;
        const jb = settle(new Promise((r) => setTimeout(r, (i % 8) * 1.5)).then(() => ep.join(B)));
        const [rx, rl2, rjb] = await Promise.all([x, l2, jb]);
        assert.strictEqual(rx, 'ok');
        assert.ok(['ok', 'EINVAL'].includes(rl2), `second leave: ${rl2}`);
        assert.strictEqual(rjb, 'ok', `round ${i}: the join into B`);
        // What the record says, the kernel has.
        const rec = ep.record;
        const inB = JSON.parse((await run('ip', ['-n', `cnm-mB${i}`, '-j', 'addr', 'show'])).out).flatMap((l: any) => l.addr_info.map((a: any) => a.local));
        assert.strictEqual(rec.sandboxId === `mB${i}`, inB.includes(ep.ipv4), `round ${i}: record ${rec.sandboxId}, B has ${inB.join(' ')}`);
        await A.delete(); await B.delete(); await ep.delete(); await ep2.delete();
      }
    } finally {
      await ctl.destroy();
    }
  });

  it('the bridge deleted while 40 joins are in flight (ip link del, at random moments): every join resolves, every host end ends up on the bridge made again', async () => {
    const ctl = await Controller.open({ stateDir: tmpState(), upstreamDns: [] });
    try {
      const net = await ctl.createNetwork({ name: 'racy', subnet: '10.126.0.0/16' });
      const br = net.record.bridge!;
      for (let round = 0; round < 5; round++) {
        const items = await Promise.all(Array.from({ length: 40 }, async (_, i) => ({
          sb: await ctl.createSandbox({ id: `racy${round}-${i}` }), ep: await net.createEndpoint({ name: `racy${round}-${i}` }),
        })));
        const del = new Promise((r) => setTimeout(r, round * 6)).then(() => run('ip', ['link', 'del', br]));
        const results = await Promise.allSettled(items.map(({ sb, ep }) => ep.join(sb)));
        await del;
        assert.deepStrictEqual(results.filter((r) => r.status === 'rejected').map((r: any) => `${r.reason.code}: ${r.reason.message}`), [], `round ${round}`);
        // Deleted after the last join's veth: the next join makes it again with every port.
        const late = await joined(ctl, net, `racy${round}-late`);
        const index = ipj(['link', 'show', 'dev', br])[0].ifindex;
        const masters = [...items, late].map(({ ep }) => ipj(['link', 'show', 'dev', ep.record.hostIfname!])[0].master);
        assert.deepStrictEqual(masters.filter((m) => m !== br), [], `round ${round}: host ends off bridge ${index}`);
        for (const { sb, ep } of [...items, late]) { await sb.delete(); await ep.delete(); }
      }
    } finally {
      await ctl.destroy();
    }
  });

  it('deleting a sandbox and its endpoint at once: both go, the address is free again', async () => {
    const ctl = await Controller.open({ stateDir: tmpState() });
    try {
      const net = await ctl.createNetwork({ name: 'race', subnet: '10.129.0.0/24' });
      const { sb, ep } = await joined(ctl, net, 'race1');
      await Promise.all([sb.delete(), ep.delete()]);
      assert.deepStrictEqual([ctl.sandboxes().length, ctl.endpoints().length], [0, 0]);
      assert.strictEqual((await net.createEndpoint({ name: 'race2' })).ipv4, '10.129.0.2');
    } finally {
      await ctl.destroy();
    }
  });

  it('a join and a delete of one endpoint at once, a create and a delete of one sandbox at once: they take turns, nothing is handed out twice, nothing is left', async () => {
    const state = tmpState();
    const etc = path.join(state, 'etc-netns');
    const ctl = await Controller.open({ stateDir: state, etcNetnsDir: etc, dns: false });
    try {
      const net = await ctl.createNetwork({ name: 'turns', subnet: '10.125.0.0/24' });
      for (let i = 0; i < 5; i++) {
        const sb = await ctl.createSandbox({ id: `t${i}` });
        const ep = await net.createEndpoint({ name: `t${i}`, ports: ['0:80'] });
        const [j, d] = await Promise.allSettled([ep.join(sb), ep.delete()]);
        assert.strictEqual(d.status, 'fulfilled');
        // The join went first (the delete then left and released), or the delete did (ENOENT).
        if (j.status === 'rejected') assert.strictEqual((j.reason as any).code, 'ENOENT');
        assert.deepStrictEqual(ctl.endpoints(), []);
        const next = await net.createEndpoint({ name: `n${i}`, ports: ['0:80'] });
        assert.strictEqual(next.ipv4, '10.125.0.2', 'the address is free, once');
        await next.delete();
        await sb.delete();
      }
      const results = await Promise.all(Array.from({ length: 30 }, async (_, i) => {
        const p = ctl.createSandbox({ id: `z${i}` });
        await new Promise((r) => setImmediate(r));
        return Promise.allSettled([p, ctl.deleteSandbox(`z${i}`)]);
      }));
      for (const [c, d] of results) {
        // The create finished first and the delete then removed it, or the create had not been recorded yet (ENOENT).
        assert.strictEqual(c.status, 'fulfilled');
        if (d.status === 'rejected') assert.strictEqual((d.reason as any).code, 'ENOENT');
      }
      const left = ctl.sandboxes().map((s) => s.id);
      for (const id of left) assert.ok(fs.existsSync(`/run/netns/cnm-${id}`), `${id} without its namespace`);
      assert.deepStrictEqual(fs.readdirSync(etc).sort(), left.map((id) => `cnm-${id}`).sort(), 'an /etc/netns link per sandbox, no other');
      for (const id of left) await ctl.deleteSandbox(id);
      assert.deepStrictEqual(fs.readdirSync(etc), []);
    } finally {
      await ctl.destroy();
    }
  });

  it('a bridge and one host veth removed while the controller was closed: reopening puts every port back on the bridge and says what it joined again; a state directory through a symlink is the same', async () => {
    const dir = tmpState();
    let ctl = await Controller.open({ stateDir: dir, dns: false });
    try {
      const net = await ctl.createNetwork({ name: 'rebuilt', subnet: '10.126.0.0/24' });
      const [a, b, c] = [await joined(ctl, net, 'ra'), await joined(ctl, net, 'rb'), await joined(ctl, net, 'rc')];
      const bridge = net.bridge!;
      await ctl.close();
      execFileSync('ip', ['link', 'del', bridge]);
      execFileSync('ip', ['link', 'del', b.ep.record.hostIfname!]);
      const link = `${dir}-link`;
      fs.symlinkSync(dir, link);
      ctl = await Controller.open({ stateDir: link, dns: false });
      assert.strictEqual(ctl.stateDir, dir);
      assert.deepStrictEqual(ctl.recovered.rejoinedEndpoints, [b.ep.id]);
      const ports = ipj(['link', 'show', 'master', bridge]).map((l: any) => l.ifname).sort();
      assert.deepStrictEqual(ports, [a, b, c].map((x) => ctl.endpoints().find((e) => e.id === x.ep.id)!.record.hostIfname!).sort());
      const ping = (from: string, to: string) => execFileSync('ip', ['netns', 'exec', `cnm-${from}`, 'ping', '-c', '1', '-W', '2', to], { encoding: 'utf8' });
      assert.match(ping('ra', c.ep.ipv4!), /1 received/);
      assert.match(ping('ra', b.ep.ipv4!), /1 received/);
      fs.unlinkSync(link);
    } finally {
      await ctl.destroy();
    }
  });

  it('sandboxes made at once where the /etc/netns directory is missing: it is made, each gets its link to its own files, and loses it with the sandbox', async () => {
    const state = tmpState();
    const etc = path.join(state, 'no', 'such', 'netns');
    const ctl = await Controller.open({ stateDir: state, etcNetnsDir: etc, dns: false });
    try {
      const sbs = await Promise.all(Array.from({ length: 50 }, (_, i) => ctl.createSandbox({ id: `burst${i}`, hostname: `b${i}` })));
      assert.deepStrictEqual(fs.readdirSync(etc).sort(), sbs.map((s) => s.record.netnsName!).sort());
      for (const s of sbs) assert.strictEqual(fs.readlinkSync(path.join(etc, s.record.netnsName!)), path.dirname(s.hostsPath));
      // Through a link, the sandbox's own files (what `ip netns exec` bind-mounts over /etc).
      const last = sbs[49];
      const hosts = fs.readFileSync(path.join(etc, last.record.netnsName!, 'hosts'), 'utf8');
      assert.ok(hosts.includes('localhost'), hosts);
      assert.strictEqual(hosts, fs.readFileSync(last.hostsPath, 'utf8'));
      await Promise.all(sbs.map((s) => s.delete()));
      assert.deepStrictEqual(fs.readdirSync(etc), []);
    } finally {
      await ctl.destroy();
    }
  });

  it('a sandbox deleted while a process still runs in its namespace leaves no veth on the bridge', async () => {
    const ctl = await Controller.open({ stateDir: tmpState() });
    try {
      const net = await ctl.createNetwork({ name: 'linger', subnet: '10.125.0.0/24' });
      const { sb, ep } = await joined(ctl, net, 'linger1');
      // A process left behind in the namespace (a daemon the program started) keeps it alive.
      const held = require('child_process').spawn('ip', ['netns', 'exec', sb.record.netnsName!, 'sleep', '60']);
      await eventually(() => assert.ok(fs.readlinkSync(`/proc/${held.pid}/ns/net`) !== fs.readlinkSync('/proc/self/ns/net')));
      const hostEnd = ep.record.hostIfname!;
      await sb.delete();
      await ep.delete();
      // Its address may go to the next container: the old eth0 must not answer for it.
      assert.ok(!hostLinks().includes(hostEnd), 'the veth of the deleted sandbox is still on the bridge');
      held.kill();
      // The same when only an open handle (a runtime's fd) keeps it.
      const { sb: sb2, ep: ep2 } = await joined(ctl, net, 'linger2');
      const handle = await sb2.netns();
      const hostEnd2 = ep2.record.hostIfname!;
      await sb2.delete();
      await ep2.delete();
      assert.ok(!hostLinks().includes(hostEnd2), 'the veth of a sandbox held by an fd is still on the bridge');
      handle.close();
    } finally {
      await ctl.destroy();
    }
  });

  it('kill -9 in the middle of creating 1,000 endpoints at once: reopening leaves nothing behind, nothing handed out twice', async () => {
    const dir = tmpState();
    // All 1,000 in flight together, as a runtime starting a stack does: at
    // the kill most are half made (namespace, veth, rules, state in between).
    const script = `
      const { Controller } = require(${JSON.stringify(path.join(__dirname, '..', 'src'))});
      (async () => {
        const ctl = await Controller.open({ stateDir: ${JSON.stringify(dir)} });
        const net = await ctl.createNetwork({ name: 'crash' });
        let done = 0;
        await Promise.all(Array.from({ length: 1000 }, async (_, i) => {
          const sb = await ctl.createSandbox({ id: 'k' + i });
          const ep = await net.createEndpoint({ name: 'k' + i, ports: [{ hostPort: 20000 + i, containerPort: 80 }] });
          await ep.join(sb);
          if (++done % 50 === 0) console.log(done);
        }));
        console.log('all');
      })();`;
    const child = require('child_process').spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    await new Promise<void>((r) => child.stdout.on('data', (d: Buffer) => { out += d; if (/^(1[5-9]\d|[2-9]\d\d|all)$/m.test(out)) r(); }));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.doesNotMatch(out, /all/, 'the child finished before the kill: the test proved nothing');
    const ctl = await Controller.open({ stateDir: dir });
    try {
      const eps = ctl.endpoints(ctl.network('crash').id).map((e) => e.record);
      const sbs = ctl.sandboxes().map((s) => s.record);
      assert.ok(eps.length >= 150 && eps.length < 1000, `${eps.length} endpoints survived`);
      assert.ok(eps.every((e) => !e.pending));
      // No sandbox directory without its sandbox.
      assert.deepStrictEqual(fs.readdirSync(path.join(ctl.runDir, 'sandboxes')).sort(), sbs.map((x) => x.id).sort());
      // The kill caught creations half-way, and open rolled them back.
      const r = ctl.recovered;
      assert.ok(r.droppedSandboxes.length + r.droppedEndpoints.length + r.removedLinks.length + r.removedNetns.length + r.rolledBackJoins.length > 0, JSON.stringify(r));
      // A join cut short is undone; its endpoint stays, unjoined, with its address and ports.
      for (const id of r.rolledBackJoins) {
        const e = eps.find((x) => x.id === id);
        assert.ok(e && !e.sandboxId && e.ipv4 && e.ports.length === 1, `rolled-back join ${id}: ${JSON.stringify(e)}`);
      }
      // Every veth on the host belongs to a known endpoint, every namespace to a known sandbox.
      const veths = hostLinks().filter((n) => n.startsWith('veth'));
      assert.deepStrictEqual(veths.sort(), eps.map((e) => e.hostIfname).filter(Boolean).sort());
      assert.deepStrictEqual(Netns.list().sort(), sbs.filter((s) => s.netnsName).map((s) => s.netnsName).sort());
      // Every port in the kernel (as nft reads it) is a joined endpoint's, once;
      // endpoints made but not yet joined hold their ports unpublished, as in Docker.
      const joined = new Map(eps.filter((e) => e.sandboxId).flatMap((e) => (e.ports ?? []).map((p: any) => [p.hostPort, e.ipv4] as [number, string])));
      const elems = nftMapElements('ports_any');
      assert.strictEqual(elems.length, joined.size);
      for (const [port, ip] of elems) assert.strictEqual(joined.get(port), ip, `port ${port}`);
      const known = new Set(eps.flatMap((e) => (e.ports ?? []).map((p: any) => p.hostPort as number)));
      assert.strictEqual(known.size, eps.length, 'one port per endpoint, none shared');
      const ips = eps.map((e) => e.ipv4);
      assert.strictEqual(new Set(ips).size, ips.length);
      // A new endpoint gets a fresh address and port.
      const fresh = await ctl.network('crash').createEndpoint({ name: 'fresh', ports: [{ hostPort: 0, containerPort: 80 }] });
      assert.ok(!ips.includes(fresh.ipv4));
      assert.ok(!known.has(fresh.record.ports[0].hostPort));
      await rejects(ctl.network('crash').createEndpoint({ name: 'dup-port', ports: [{ hostPort: [...known][known.size - 1], containerPort: 80 }] }), 'EADDRINUSE');
    } finally {
      await ctl.destroy();
    }
    // Hundreds of namespaces for the kernel to clean up, in its own time.
    await eventually(() => assert.deepStrictEqual(hostLinks(), []), 60000);
    assert.deepStrictEqual(Netns.list(), []);
  });

  it('reconcile() while 60 containers are being made and 20 removed: it waits for them, takes nothing of theirs for leftovers, and operations asked for meanwhile wait for it', async () => {
    const dir = tmpState();
    const ctl = await Controller.open({ stateDir: dir, upstreamDns: [] });
    try {
      const net = await ctl.createNetwork({ name: 'busy', subnet: '10.125.0.0/24' });
      const old = await Promise.all(Array.from({ length: 20 }, (_, i) => joined(ctl, net, `old${i}`)));
      const made = Promise.all(Array.from({ length: 60 }, async (_, i) => {
        const sb = await ctl.createSandbox({ id: `new${i}` });
        const ep = await net.createEndpoint({ name: `new${i}`, ports: [{ hostPort: 31000 + i, containerPort: 80 }] });
        await ep.join(sb);
        return ep;
      }));
      const removed = Promise.all(old.map(async ({ sb, ep }) => { await sb.delete(); await ep.delete(); }));
      // Asked for while the others are in flight; a creation asked for after it waits for it.
      await new Promise((r) => setTimeout(r, 10));
      const order: string[] = [];
      const report = ctl.reconcile().then((r) => { order.push('reconcile'); return r; });
      const late = joined(ctl, net, 'late').then((x) => { order.push('late'); return x; });
      const eps = await made;
      await removed;
      assert.deepStrictEqual(await report, { removedLinks: [], removedNetns: [], droppedSandboxes: [], droppedEndpoints: [], rolledBackJoins: [], rejoinedEndpoints: [] });
      await late;
      assert.deepStrictEqual(order, ['reconcile', 'late']);
      assert.deepStrictEqual(ctl.sandboxes().map((s) => s.id).sort(), [...eps.map((e) => e.name), 'late'].sort());
      // Every endpoint joined, with its own address and its veth on the bridge.
      const ports = new Set(bridgej(['link', 'show']).filter((l: any) => l.master === net.bridge).map((l: any) => l.ifname));
      for (const ep of [...eps, ctl.sandbox('late').inspect().endpoints[0]]) {
        const r = 'record' in ep ? ep.record : ep;
        assert.ok(r.sandboxId && ports.has(r.hostIfname!), `${r.name} joined`);
      }
      assert.strictEqual(new Set(eps.map((e) => e.ipv4)).size, 60);
      assert.deepStrictEqual(nftMapElements('ports_any').map(([p]) => p).sort(), eps.map((_, i) => 31000 + i));
    } finally {
      await ctl.destroy();
    }
  });

  it('a close right after a sandbox-first teardown, then a reopen: the host ends the kernel is still removing are not reported as leftovers', async () => {
    const dir = tmpState();
    let ctl = await Controller.open({ stateDir: dir, upstreamDns: [] });
    const net = await ctl.createNetwork({ name: 'dying', subnet: '10.127.0.0/22' });
    const made = await Promise.all(Array.from({ length: 400 }, (_, i) => joined(ctl, net, `dy${i}`)));
    await Promise.all(made.map(async ({ sb, ep }) => { await sb.delete(); await ep.delete(); }));
    const lingering = ipj(['link', 'show']).filter((l: any) => /^veth/.test(l.ifname)).length;
    await ctl.close();
    ctl = await Controller.open({ stateDir: dir, upstreamDns: [] });
    try {
      console.log(`      ${lingering} host ends were still there after the deletes`);
      assert.deepStrictEqual(ctl.recovered.removedLinks, [], `${lingering} host ends were still there at close`);
    } finally {
      await ctl.destroy();
    }
  });

  it('close() waits for the operations in flight; later ones fail with EBADF; a kept endpoint joins a new sandbox at once after its old one was deleted', async () => {
    const dir = tmpState();
    let ctl = await Controller.open({ stateDir: dir, upstreamDns: [] });
    const net = await ctl.createNetwork({ name: 'closing', subnet: '10.126.0.0/24' });
    const made = Promise.all(Array.from({ length: 20 }, (_, i) => ctl.createSandbox({ id: `c${i}` })));
    await new Promise((r) => setTimeout(r, 5));
    await ctl.close();
    assert.strictEqual((await made).length, 20);
    await rejects(ctl.createSandbox({ id: 'after' }), 'EBADF', /controller is closed/);
    await rejects(ctl.reconcile(), 'EBADF');
    ctl = await Controller.open({ stateDir: dir, upstreamDns: [] });
    try {
      assert.deepStrictEqual([ctl.recovered.droppedSandboxes, ctl.sandboxes().length], [[], 20]);
      const n = ctl.network('closing');
      const eps = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
        const ep = await n.createEndpoint({ name: `c${i}` });
        await ep.join(`c${i}`);
        return ep;
      }));
      // Docker's restart of a container: the sandbox goes, the endpoint stays and joins the next one at once.
      // (The old host ends wait for their namespaces' cleanup meanwhile: no name is taken twice.)
      await Promise.all(eps.map((ep) => ctl.sandbox(ep.name).delete()));
      await Promise.all(eps.map(async (ep, i) => ep.join(await ctl.createSandbox({ id: `r${i}` }))));
      const ports = new Set(bridgej(['link', 'show']).filter((l: any) => l.master === n.bridge).map((l: any) => l.ifname));
      assert.strictEqual(eps.filter((e) => e.record.sandboxId === `r${eps.indexOf(e)}` && ports.has(e.record.hostIfname!)).length, 20);
    } finally {
      await ctl.destroy();
    }
  });

  it('a crash between a namespace\'s unmount and the unlink of its file: reopening deletes the sandbox the rest of the way and says so', async () => {
    const dir = tmpState();
    let ctl = await Controller.open({ stateDir: dir, upstreamDns: [] });
    try {
      const net = await ctl.createNetwork({ name: 'halfgone', subnet: '10.124.0.0/24' });
      const { sb, ep } = await joined(ctl, net, 'cut');
      const keep = await joined(ctl, net, 'kept');
      const nsPath = sb.record.netnsPath!;
      const ip = ep.ipv4;
      await ctl.close();
      // What deleteSandbox had done when it was killed: the unmount, not the unlink.
      execFileSync('umount', [nsPath]);
      assert.ok(fs.existsSync(nsPath));
      ctl = await Controller.open({ stateDir: dir, upstreamDns: [] });
      assert.deepStrictEqual(ctl.recovered.droppedSandboxes, ['cut']);
      assert.deepStrictEqual(ctl.recovered.droppedEndpoints, [ep.id]);
      assert.ok(!fs.existsSync(nsPath));
      assert.deepStrictEqual(ctl.sandboxes().map((s) => s.id), ['kept']);
      assert.strictEqual(ctl.sandbox('kept').record.netnsPath, keep.sb.record.netnsPath);
      // Its address is free again.
      assert.strictEqual((await ctl.network('halfgone').createEndpoint({ name: 'next' })).ipv4, ip);
    } finally {
      await ctl.destroy();
    }
  });

  it('Docker\'s teardown order (leave, delete, then the sandbox) for 200 containers at once: their veths go in one batch; a removal cut short by a crash is finished on open', async () => {
    const dir = tmpState();
    let ctl = await Controller.open({ stateDir: dir, upstreamDns: [], dns: false });
    try {
      const net = await ctl.createNetwork({ name: 'order', subnet: '10.125.0.0/22' });
      const all = await Promise.all(Array.from({ length: 200 }, (_, i) => joined(ctl, net, `o${i}`)));
      const before = ctl.stats.linkRemovals;
      await Promise.all(all.map(async ({ sb, ep }) => { await ep.leave(); await ep.delete(); await sb.delete(); }));
      assert.deepStrictEqual(hostLinks().filter((l) => l.startsWith('veth')), []);
      // Each leave resolved with its veth gone, and they went to the kernel together.
      const after = ctl.stats.linkRemovals;
      const batches = after.batches - before.batches;
      assert.strictEqual(after.batched - before.batched + after.single - before.single, 200);
      assert.ok(batches >= 1 && batches <= 4, `${batches} group deletions, ${after.single - before.single} alone`);
      const rt = await Rtnl.open();
      // A veth moved to a reaper group by a controller killed before the group deletion.
      await rt.link.add({ kind: 'veth', name: 'cutshort', group: 0x0c170042, peer: { name: 'cutshortp' } });
      rt.close();
      await ctl.close();
      ctl = await Controller.open({ stateDir: dir, upstreamDns: [], dns: false });
      assert.deepStrictEqual(ctl.recovered.removedLinks, ['cutshort']);
      assert.ok(!hostLinks().includes('cutshort'));
    } finally {
      await ctl.destroy();
    }
  });

  it('one state directory per namespace: a second is refused while the first exists, and takes over once it is gone', async () => {
    const a = tmpState();
    const b = tmpState();
    const first = await Controller.open({ stateDir: a });
    await first.createNetwork({ name: 'mine', options: { 'com.docker.network.bridge.name': 'br-first' } });
    await first.close();
    // The second one's reconcile would remove all of it: refused, nothing touched.
    await rejects(Controller.open({ stateDir: b }), 'EBUSY', new RegExp(a));
    assert.ok(hostLinks().includes('br-first'));
    // (nft 1.0.6 leaves table comments out of its JSON: read the text.)
    const tables = () => ['ip', 'ip6'].map((f) => [f, /comment "(.*)"/.exec(execFileSync('nft', ['list', 'table', f, 'cnm-netlink'], { encoding: 'utf8' }))?.[1]]);
    assert.deepStrictEqual(tables(), [['ip', `cnm-netlink: container networking (state: ${a})`], ['ip6', `cnm-netlink: container networking (state: ${a})`]]);
    // The first state directory removed without a destroy: its objects are nobody's.
    fs.rmSync(a, { recursive: true });
    const second = await Controller.open({ stateDir: b });
    try {
      assert.ok(!hostLinks().includes('br-first'));
      assert.deepStrictEqual(tables(), [['ip', `cnm-netlink: container networking (state: ${b})`], ['ip6', `cnm-netlink: container networking (state: ${b})`]]);
    } finally {
      await second.destroy();
    }
    // Two starting at once on an empty ruleset: one gets the namespace.
    const both = await Promise.allSettled([Controller.open({ stateDir: tmpState() }), Controller.open({ stateDir: tmpState() })]);
    assert.deepStrictEqual(both.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    assert.strictEqual((both.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason.code, 'EBUSY');
    await (both.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<Controller>).value.destroy();
    // Empty tables of an older version (no owner in the comment) are taken over.
    execFileSync('nft', ['add', 'table', 'ip', 'cnm-netlink']);
    const c = tmpState();
    const third = await Controller.open({ stateDir: c });
    try {
      assert.deepStrictEqual(tables()[0], ['ip', `cnm-netlink: container networking (state: ${c})`]);
    } finally {
      await third.destroy();
    }
  });

  it('a container\'s resolv.conf servers: the host\'s without loopback (IPv6 ones with IPv6 only), systemd-resolved\'s upstreams for its stub alone, or Docker\'s defaults', () => {
    const { containerNameservers } = require('../src/cnm/dns');
    const d = tmpState();
    const f = (name: string, text: string) => { fs.writeFileSync(path.join(d, name), text); return path.join(d, name); };
    const plain = f('plain', 'nameserver 192.0.2.53\nnameserver 127.0.0.1\nnameserver ::1\n');
    const stub = f('stub', 'nameserver 127.0.0.53\noptions edns0\n');
    const resolved = f('resolved', 'nameserver 192.0.2.1\nnameserver 2001:db8::53\n');
    const ask = (file: string, ipv6 = false, systemd = resolved) => containerNameservers({ file, systemd, ipv6 });
    assert.deepStrictEqual(ask(plain), ['192.0.2.53']);
    // The resolved stub alone: its upstreams; IPv6 ones only for a container with IPv6.
    assert.deepStrictEqual(ask(stub), ['192.0.2.1']);
    assert.deepStrictEqual(ask(stub, true), ['192.0.2.1', '2001:db8::53']);
    assert.deepStrictEqual(ask(stub, false, path.join(d, 'missing')), ['8.8.8.8', '8.8.4.4']);
    // Another loopback server (dnsmasq): not resolved's file, Docker's defaults.
    const dnsmasq = f('dnsmasq', 'nameserver 127.0.0.1\n');
    assert.deepStrictEqual(ask(dnsmasq), ['8.8.8.8', '8.8.4.4']);
    assert.deepStrictEqual(ask(dnsmasq, true), ['8.8.8.8', '8.8.4.4', '2001:4860:4860::8888', '2001:4860:4860::8844']);
    const six = f('six', 'nameserver 2001:db8::53\n');
    assert.deepStrictEqual(ask(six), ['8.8.8.8', '8.8.4.4'], 'an IPv6 server is no use to an IPv4-only container');
    assert.deepStrictEqual(ask(six, true), ['2001:db8::53']);
  });

  it('bad input: typed errors and no residue', async () => {
    const ctl = await Controller.open({ stateDir: tmpState() });
    try {
      const net = await ctl.createNetwork({ name: 'taken', subnet: '10.200.0.0/16' });
      // What a leftover would change; not operstate, which the kernel's
      // linkwatch updates a moment after a link comes up.
      const links = () => ipj(['link', 'show']).map((l: any) => [l.ifindex, l.ifname, l.flags, l.mtu, l.address, l.master]);
      const beforeLinks = links();
      const beforeNs = Netns.list();
      await rejects(ctl.createNetwork({ name: 'overlap', subnet: '10.200.128.0/17' }), 'EBUSY', /overlaps/);
      await rejects(ctl.createNetwork({ name: 'taken' }), 'EEXIST');
      await rejects(ctl.createNetwork({ name: '  ' }), 'EINVAL', /name is empty/);
      await rejects(ctl.createNetwork({ name: 'nul\0name' }), 'EINVAL', /invalid network name/);
      for (const dots of ['.', '..']) await rejects(ctl.createNetwork({ name: dots }), 'EINVAL', /invalid network name/);
      // IPv6 subnets as Docker's validateIPv6Subnet: not IPv4-mapped, not multicast, clear of fe80::/64.
      await rejects(ctl.createNetwork({ name: 'll6', ipv6: true, subnet6: 'fe80::/80' }), 'EINVAL', /clashes with the Link-Local prefix 'fe80::\/64'/);
      await rejects(ctl.createNetwork({ name: 'mapped6', ipam: [{ subnet: '::ffff:10.0.0.0/120' }], ipv6: true }), 'EINVAL', /is not a valid IPv6 subnet/);
      await rejects(ctl.createNetwork({ name: 'mc6', ipv6: true, subnet6: 'ff00::/64' }), 'EINVAL', /multicast subnet 'ff00::\/64' is not allowed/);
      await rejects(ctl.createNetwork({ name: 'all6', ipv6: true, subnet6: '::/0' }), 'EINVAL', /clashes with the Link-Local prefix/);
      await rejects(ctl.createNetwork({ name: 'badcidr', subnet: '10.300.0.0/16' }), 'EINVAL');
      await rejects(ctl.createNetwork({ name: 'hostbits', subnet: '10.201.0.1/16' }), 'EINVAL', /host bits/);
      await rejects(ctl.createNetwork({ name: 'gwout', subnet: '10.202.0.0/24', gateway: '10.203.0.1' }), 'EINVAL', /outside/);
      await rejects(ctl.createNetwork({ name: 'drv', driver: 'overlay' as any }), 'EINVAL');
      await rejects(net.createEndpoint({ name: 'e1', ip: '10.9.9.9' }), 'EINVAL', /outside/);
      await rejects(net.createEndpoint({ name: 'e1', ip: '10.200.0.1' }), 'EADDRINUSE');
      await rejects(net.createEndpoint({ name: 'e1', ports: ['99999:80'] }), 'EINVAL');
      await rejects(net.createEndpoint({ name: 'e1', ports: [{ hostPort: 8080, containerPort: 0 }] }), 'EINVAL');
      await net.createEndpoint({ name: 'e1', ports: ['8080:80'] });
      await rejects(net.createEndpoint({ name: 'e1' }), 'EEXIST');
      await rejects(net.createEndpoint({ name: 'e2', ports: ['8080:80'] }), 'EADDRINUSE', /already allocated/);
      await rejects(net.createEndpoint({ name: 'e3', ports: ['127.0.0.1:8080:80'] }), 'EADDRINUSE');
      await net.createEndpoint({ name: 'e4', ports: ['8080:80/udp'] });
      assert.throws(() => ctl.network('nosuch'), (e: any) => e.code === 'ENOENT');
      assert.throws(() => ctl.sandbox('nosuch'), (e: any) => e.code === 'ENOENT');
      await rejects(ctl.createSandbox({ id: 'bad id' }), 'EINVAL');
      await rejects(ctl.createSandbox({ id: 'adopt', key: '/run/netns/missing' }), 'ENOENT');
      await rejects(ctl.createSandbox({ id: 'adopt', key: -1 }), 'EINVAL', /key/);
      await rejects(ctl.createSandbox({ id: 'adopt', key: {} as any }), 'EINVAL', /key/);
      // The host's own namespace is not a sandbox to plug veths and routes into.
      await rejects(ctl.createSandbox({ id: 'adopt', key: process.pid }), 'EINVAL', /host/);
      await rejects(ctl.createSandbox({ id: 'adopt', key: '/proc/self/ns/net' }), 'EINVAL', /host/);
      // A sandbox sharing a host-mode one is in the host's namespace too.
      await ctl.createSandbox({ id: 'hostsb', host: true });
      await ctl.createSandbox({ id: 'rides', joinSandbox: 'hostsb' });
      const hostRoutes = ipj(['route', 'show']);
      await rejects(net.createEndpoint({ name: 'eh' }).then((ep) => ep.join('rides')), 'EINVAL', /host/);
      assert.deepStrictEqual(ipj(['route', 'show']), hostRoutes);
      await ctl.sandbox('rides').delete();
      await ctl.sandbox('hostsb').delete();
      await ctl.endpoints().find((e) => e.record.name === 'eh')!.delete();
      // A namespace of the sandbox's name made by someone else is refused and left alone.
      execFileSync('ip', ['netns', 'add', 'cnm-squat']);
      await rejects(ctl.createSandbox({ id: 'squat' }), 'EEXIST');
      assert.ok(Netns.list().includes('cnm-squat'));
      execFileSync('ip', ['netns', 'delete', 'cnm-squat']);
      // Ids that share a long prefix get namespaces of their own.
      const long = 'a'.repeat(60);
      const l1 = await ctl.createSandbox({ id: `${long}1` });
      const l2 = await ctl.createSandbox({ id: `${long}2` });
      assert.notStrictEqual(l1.record.netnsName, l2.record.netnsName);
      await l1.delete();
      await l2.delete();
      await ctl.createNetwork({ name: 'v6a', subnet: '10.210.0.0/24', subnet6: 'fd00:6::/64' });
      await rejects(ctl.createNetwork({ name: 'v6b', subnet: '10.211.0.0/24', subnet6: 'fd00:6::/80' }), 'EBUSY', /overlaps/);
      await ctl.network('v6a').delete();
      const sb = await ctl.createSandbox({ id: 'once' });
      await rejects(ctl.createSandbox({ id: 'once' }), 'EEXIST');
      await rejects(net.delete(), 'EBUSY');
      await rejects(ctl.network('bridge').delete(), 'EINVAL');
      await sb.delete();
      assert.deepStrictEqual(links(), beforeLinks);
      assert.deepStrictEqual(Netns.list(), beforeNs);
    } finally {
      await ctl.destroy();
    }
  });
});
